// The polyphase conv over an upsampled map (nn/polyphase.h) against the direct computation:
// resize with PyTorch's bilinear (align_corners = false), then convolve.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <numeric>

#include "core/config.h"
#include "metrics/macs.h"
#include "nn/head.h"
#include "nn/layers.h"
#include "nn/polyphase.h"

using namespace dmgn;

namespace {

double rel(const torch::Tensor& a, const torch::Tensor& b) {
  return ((a - b).abs().max() / b.abs().max().clamp_min(1e-12)).item<double>();
}

}  // namespace

TEST(Polyphase, BasisRowsAreTheBilinearWeightsAndSumToOne) {
  // s = 4, a 3x3 tap at offsets -1, 0, 1: phase 0's tap -1 lands on source i - 0.625, i.e.
  // 0.625 of f[i - 1] and 0.375 of f[i]; every (phase, tap) row sums to 1; the span is 3.
  const auto b = nn::polyphase_basis(4, 3, 1, 1);
  EXPECT_EQ(b.a_min, -1);
  EXPECT_EQ(b.span, 3);
  EXPECT_TRUE(torch::allclose(b.weights.sum(2), torch::ones({4, 3}, torch::kDouble)));
  EXPECT_DOUBLE_EQ(b.weights[0][0][0].item<double>(), 0.625);
  EXPECT_DOUBLE_EQ(b.weights[0][0][1].item<double>(), 0.375);
  EXPECT_DOUBLE_EQ(b.weights[0][0][2].item<double>(), 0.0);
}

TEST(Polyphase, ConvOfUpsampledEqualsConvOverTheResizedMapInTheInterior) {
  // Scales 2..16 (the VGG taps) and 3 (no power of two), 3x3 and 5x5 kernels, dilation 1 and
  // 2, non-square maps: away from the border (where the direct conv would read padding) the
  // polyphase conv is the direct conv over the resized map.
  torch::manual_seed(3);
  struct Case {
    int64_t s, k, dil;
  };
  for (const Case c : {Case{2, 3, 1}, Case{4, 3, 1}, Case{8, 3, 1}, Case{16, 3, 1}, Case{3, 3, 1}, Case{4, 5, 1},
                       Case{2, 3, 2}}) {
    SCOPED_TRACE(::testing::Message() << "s " << c.s << " k " << c.k << " dil " << c.dil);
    const int64_t h = 5, w = 7, pad = c.dil * (c.k - 1) / 2;
    const auto f = torch::randn({2, 6, h, w}, torch::kDouble);
    const auto weight = torch::randn({4, 6, c.k, c.k}, torch::kDouble);
    auto basis = nn::polyphase_basis(c.s, c.k, c.dil, pad);
    const auto got = nn::conv_of_upsampled(f, weight, c.s, basis, nn::polyphase_mix(basis));
    ASSERT_EQ(got.sizes(), (std::vector<int64_t>{2, 4, h * c.s, w * c.s}));
    const auto up = nn::resize_bilinear(f, h * c.s, w * c.s, false);
    const std::vector<int64_t> one{1, 1}, zero{0, 0}, dil{c.dil, c.dil};
    const auto direct = torch::conv2d(up, weight, torch::Tensor(), at::IntArrayRef(one), at::IntArrayRef(zero),
                                      at::IntArrayRef(dil));  // valid: rows pad .. H - pad
    const auto inner = got.narrow(2, pad, h * c.s - 2 * pad).narrow(3, pad, w * c.s - 2 * pad);
    EXPECT_LT(rel(inner, direct), 1e-12);
  }
}

TEST(Polyphase, UpsampledLinesAreTheResizedMapsLines) {
  torch::manual_seed(4);
  const auto f = torch::randn({1, 3, 6, 5});
  const auto up = nn::resize_bilinear(f, 24, 20, false);
  const std::vector<int64_t> rows{1, 0, 1, 22, 23, 22}, cols{0, 19, 7};
  std::vector<int64_t> all_rows(24), all_cols(20);
  std::iota(all_rows.begin(), all_rows.end(), 0);
  std::iota(all_cols.begin(), all_cols.end(), 0);
  const auto r = nn::upsampled_lines(f, 2, nn::line_sampling(6, 24, rows), nn::line_sampling(5, 20, all_cols));
  const auto c = nn::upsampled_lines(f, 3, nn::line_sampling(5, 20, cols), nn::line_sampling(6, 24, all_rows));
  EXPECT_LT(rel(r, up.index_select(2, torch::tensor(rows))), 1e-6);
  EXPECT_LT(rel(c, up.index_select(3, torch::tensor(cols))), 1e-6);
  EXPECT_THROW(nn::line_sampling(6, 24, {24}), c10::Error);
}

TEST(Polyphase, HeadTapsMatchTheDirectHeadWhereOnlySomeFeaturesAreExactFractions) {
  // 44 x 52: relu2_1 (22 x 26) is 1/2 exactly, relu3_1 (11 x 13) 1/4, relu4_1 (5 x 6) is no
  // exact fraction and is resized and convolved directly, next to the polyphase sources.
  const Config cfg = Config::defaults({"model.head.taps=[1, 6, 11, 20]"});
  auto holder = std::make_shared<nn::HypercolumnHead>(cfg.sub("model.head"), 8);
  auto& head = *holder;
  const auto x = torch::rand({2, 3, 44, 52}) * 2 - 1;
  torch::NoGradGuard no_grad;
  head.use_low_res_taps(nn::Head::Taps::never);
  const auto direct = head.forward(x);
  head.use_low_res_taps(nn::Head::Taps::always);
  const auto tapped = head.forward(x);
  const auto again = head.forward(x);  // the cached plan
  EXPECT_LT(rel(tapped, direct), 1e-5);
  EXPECT_TRUE(torch::equal(tapped, again));
  // Channels-last (runtime.channels_last): the in-place phase views follow y's own layout.
  const auto cl = head.forward(x.contiguous(torch::MemoryFormat::ChannelsLast));
  EXPECT_LT(rel(cl, direct), 1e-5);
}

TEST(Polyphase, HeadPlanBuiltUnderInferenceModeServesATrainingForward) {
  // bench model times inference (c10::InferenceMode) before forward+backward on one model: the
  // plan cached by the first forward must not be made of inference tensors.
  const Config cfg = Config::defaults({"model.head.taps=[1, 6]"});
  auto head = std::make_shared<nn::HypercolumnHead>(cfg.sub("model.head"), 4);
  head->use_low_res_taps(nn::Head::Taps::always);
  const auto x = torch::rand({1, 3, 16, 16});
  {
    c10::InferenceMode inference;
    head->forward(x);
  }
  auto y = head->forward(x);
  y.sum().backward();
  const auto& conv1 = *head->named_modules()["conv1"]->as<nn::ConvImpl>();
  EXPECT_GT(conv1.weight.grad().abs().sum().item<double>(), 0.0);
}
