// MBN's blocks (systems/mbn/mbn_blocks.h): the trunk blocks' parameter counts as the reference's
// EnDNet gives them, the reference's parameter names, the SE-TV attention against hand-computed
// values, and the dual residual block's shapes and wiring.
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "nn/layers.h"
#include "systems/mbn/mbn_blocks.h"
#include "test_util.h"

namespace {

using namespace dmgn::nn;

TEST(MbnBlocks, TrunkBlocksHaveTheReferenceParameterCounts) {
  // SEED-SYSTEMS.md: M1 640,032; M2, M3 738,336; M4 836,640; M5, M6 984,096; M7, M8 1,426,464.
  const int64_t want[8] = {640032, 738336, 738336, 836640, 984096, 984096, 1426464, 1426464};
  int64_t trunk = 0;
  for (int i = 1; i <= 8; ++i) {
    DurbM m(mbn_trunk_block(i));
    EXPECT_EQ(count_parameters(*m).total, want[i - 1]) << "M" << i;
    if (i <= 5) trunk += count_parameters(*m).total;
  }
  EXPECT_EQ(trunk, 3937440);  // M1..M5, the shared stem
  auto p = DurbM(mbn_trunk_block(1))->named_parameters();
  for (const char* name : {"base.conv1.conv2d.weight", "base.se.fc.0.weight", "base.se.fc.2.bias",
                           "upsamp_module.upsamp.0.conv2d.weight", "up_conv.conv2d.bias", "down_conv.conv2d.weight",
                           "down_se.se.fc.0.weight", "down_seconv.conv2d.weight", "merge.conv2d.weight"})
    EXPECT_TRUE(p.contains(name)) << name;
  EXPECT_EQ(p["base.se.fc.0.weight"].sizes(), torch::IntArrayRef({64, 192}));  // [GAP, TV] of 96 channels
  EXPECT_FALSE(p.contains("base.conv1.conv2d.bias"));                           // SE convs: no bias
  EXPECT_THROW(mbn_trunk_block(9), dmgn::Error);
}

TEST(MbnBlocks, SeTvAttentionMatchesHandComputedValues) {
  // One channel, 2 x 3: rows [0 1 3] / [2 2 2]. GAP = 10/6. Vertical differences 2, 1, -1 ->
  // mean |.|^3 = (8 + 1 + 1) / 3; horizontal 1, 2, 0, 0 -> (1 + 8 + 0 + 0) / 4.
  const auto x = torch::tensor({0.f, 1.f, 3.f, 2.f, 2.f, 2.f}).view({1, 1, 2, 3});
  const double tv = 10.0 / 3.0 + 9.0 / 4.0;
  EXPECT_NEAR(channel_tv(x, 3.0).item<double>(), tv, 1e-6);
  ChannelAttention att(1, 2, AttentionKind::gap_tv);
  auto p = att->named_parameters();
  {
    torch::NoGradGuard g;
    p["fc.0.weight"].copy_(torch::tensor({1.f, 0.f, 0.f, -1.f}).view({2, 2}));  // h = relu([gap, -tv])
    p["fc.0.bias"].zero_();
    p["fc.2.weight"].copy_(torch::tensor({0.5f, 2.f}).view({1, 2}));
    p["fc.2.bias"].fill_(-1.0);
  }
  const double gap = 10.0 / 6.0;
  const double w = 1 / (1 + std::exp(-(0.5 * gap + 2 * 0.0 - 1)));  // relu(-tv) = 0
  EXPECT_NEAR(att->weights(x).item<double>(), w, 1e-6);
  EXPECT_TRUE(torch::allclose(att->forward(x), x * w, 1e-6, 1e-6));
  // The ablations' descriptors: GAP alone, TV alone.
  ChannelAttention gap_only(1, 1, AttentionKind::gap), tv_only(1, 1, AttentionKind::tv);
  for (auto* a : {&gap_only, &tv_only}) {
    torch::NoGradGuard g;
    auto q = (*a)->named_parameters();
    q["fc.0.weight"].fill_(1.0);
    q["fc.0.bias"].zero_();
    q["fc.2.weight"].fill_(1.0);
    q["fc.2.bias"].zero_();
  }
  EXPECT_NEAR(gap_only->weights(x).item<double>(), 1 / (1 + std::exp(-gap)), 1e-6);
  EXPECT_NEAR(tv_only->weights(x).item<double>(), 1 / (1 + std::exp(-tv)), 1e-6);
  EXPECT_NE(dmgn::testing::error_of<dmgn::ConfigError>([] { attention_kind("se", "model.attention"); })
                .find("gap_tv, gap, tv"),
            std::string::npos);
}

TEST(MbnBlocks, TheDualResidualBlockKeepsBothStreamsShapes) {
  torch::manual_seed(0);
  DurbM m(mbn_trunk_block(3));  // k1 3 with dilation 2, k2 5
  const auto x = torch::rand({2, 96, 8, 12}), res = torch::rand({2, 64, 16, 24});
  const auto out = m->forward(x, res);
  EXPECT_EQ(out.x.sizes(), x.sizes());
  EXPECT_EQ(out.res.sizes(), res.sizes());
  EXPECT_GE(out.x.min().item<double>(), 0.0);  // ReLU'd
  EXPECT_GE(out.res.min().item<double>(), 0.0);
  // The residual stream enters before the ReLU: a larger res raises the returned res.
  const auto more = m->forward(x, res + 1.0);
  EXPECT_GT((more.res - out.res).sum().item<double>(), 0.0);
}

}  // namespace
