// PReNet (framework/systems/prenet/): the reference's parameter counts and names for its four
// variants, its MACs, the stage outputs and the global residual, the declared receptive radius
// against the gradient's reach, SSIM with pytorch-ssim's zero padding against a direct 2-D
// convolution, and a few training steps through the shared "supervised" recipe.
#include <gtest/gtest.h>

#include "core/config.h"
#include "losses/ssim_loss.h"
#include "metrics/macs.h"
#include "models/model.h"
#include "models/system_info.h"
#include "process_test.h"
#include "store/run_store.h"
#include "systems/prenet/register.h"
#include "test_util.h"
#include "train/trainer.h"

using dmgn::Config;

namespace {

const std::string kPrenetDir = std::string(DMGN_SOURCE_DIR) + "/experiments/prenet/";

class PReNet : public dmgn::testing::ProcessTest {
 protected:
  void SetUp() override {
    ProcessTest::SetUp();
    dmgn::systems::register_prenet();
  }
};

Config prenet(std::vector<std::string> sets = {}) { return Config::load(kPrenetDir + "base.toml", sets); }

TEST_F(PReNet, TheReferenceVariantsHaveTheirParameterCountsAndNames) {
  // networks.py counted with the reference (tools/prenet_parity.py): conv0 1,760, each 32 -> 32
  // conv 9,248, each gate 18,464, conv 867.
  struct Case {
    std::vector<std::string> sets;
    const char* name;
    int64_t params;
    size_t tensors;
  };
  const std::vector<Case> cases{{{}, "PReNet", 168963, 32},
                                {{"model.shared_block=true"}, "PReNet_r", 94979, 16},
                                {{"model.lstm=false"}, "PRN", 95107, 24},
                                {{"model.lstm=false", "model.shared_block=true"}, "PRN_r", 21123, 8}};
  for (const auto& c : cases) {
    const Config cfg = prenet(c.sets);
    EXPECT_EQ(dmgn::models::system_name(cfg), c.name);
    auto m = dmgn::models::build_model(cfg);
    int64_t n = 0;
    for (const auto& p : m->parameters()) n += p.numel();
    EXPECT_EQ(n, c.params) << c.name;
    const auto named = m->named_parameters();
    EXPECT_EQ(named.size(), c.tensors) << c.name;
    EXPECT_TRUE(named.contains("conv0.0.weight"));
    EXPECT_TRUE(named.contains("res_conv1.2.bias"));
    EXPECT_TRUE(named.contains("conv.0.weight"));
    EXPECT_EQ(named.contains("res_conv5.0.weight"), c.tensors == 32 || c.tensors == 24) << c.name;
    EXPECT_EQ(named.contains("conv_o.0.weight"), c.tensors == 32 || c.tensors == 16) << c.name;
  }
}

TEST_F(PReNet, MacsAreTheReferencesConvolutions) {
  // Forward hooks on the reference (tools/prenet_parity.py's fact sheet): 4,140,564,480 MACs for
  // PReNet and 2,328,625,152 for PRN at 64 x 64, 6 stages.
  for (const auto& [sets, macs] : std::vector<std::pair<std::vector<std::string>, uint64_t>>{
           {{}, 4140564480ull}, {{"model.lstm=false"}, 2328625152ull}}) {
    auto m = dmgn::models::build_model(prenet(sets));
    torch::NoGradGuard g;
    dmgn::metrics::MacCounter c;
    m->forward(torch::rand({1, 3, 64, 64}));
    EXPECT_EQ(c.total(), macs);
  }
}

TEST_F(PReNet, StagesEndInTheGlobalResidual) {
  torch::manual_seed(0);
  auto m = dmgn::models::build_model(prenet({"model.channels=4", "model.stages=3", "model.blocks=2"}));
  const auto x = torch::rand({2, 3, 20, 24});
  auto out = m->forward(x);
  const auto stages = out.list("stages");
  ASSERT_EQ(stages.size(), 3u);
  EXPECT_TRUE(torch::equal(stages.back(), out.get("background")));
  // With the last conv zeroed every stage returns its input: x_t = conv(...) + y.
  torch::NoGradGuard g;
  for (auto& p : m->named_parameters())
    if (p.key().rfind("conv.0.", 0) == 0) p.value().zero_();
  for (const auto& s : m->forward(x).list("stages")) EXPECT_TRUE(torch::equal(s, x));
}

TEST_F(PReNet, ReceptiveRadiusIsTheGradientsReach) {
  torch::manual_seed(1);
  for (const auto& sets : std::vector<std::vector<std::string>>{
           {"model.channels=4", "model.stages=2", "model.blocks=1"},
           {"model.channels=4", "model.stages=2", "model.blocks=1", "model.lstm=false"}}) {
    auto m = dmgn::models::build_model(prenet(sets));
    const int64_t radius = m->spec().receptive_radius, side = 2 * radius + 9, mid = side / 2;
    ASSERT_GT(radius, 0);
    auto x = torch::rand({1, 3, side, side}).requires_grad_(true);
    m->forward(x).get("background").index({0, 0, mid, mid}).backward();
    const auto reach = x.grad().abs().sum(1)[0];
    const auto ys = torch::arange(side).view({side, 1}), xs = torch::arange(side).view({1, side});
    const auto cheb = torch::max((ys - mid).abs(), (xs - mid).abs());
    EXPECT_EQ(reach.masked_select(cheb > radius).count_nonzero().item<int64_t>(), 0) << "beyond the radius";
    EXPECT_GT(reach.masked_select(cheb == radius).count_nonzero().item<int64_t>(), 0) << "radius not tight";
  }
}

// loss.ssim.padding = "zero": pytorch-ssim's map, a 2-D convolution with the 11 x 11 Gaussian
// window zero-padded by 5, averaged over every pixel.
TEST_F(PReNet, ZeroPaddedSsimIsPytorchSsims) {
  torch::manual_seed(2);
  const auto a = torch::rand({2, 3, 16, 19}, torch::kDouble), b = torch::rand({2, 3, 16, 19}, torch::kDouble);
  const auto g1 = torch::exp(-(torch::arange(11, torch::kDouble) - 5).pow(2) / (2 * 1.5 * 1.5));
  const auto g = (g1 / g1.sum()).view({11, 1}).mm((g1 / g1.sum()).view({1, 11})).expand({3, 1, 11, 11});
  const auto f = [&](const torch::Tensor& t) { return torch::conv2d(t, g, {}, 1, 5, 1, 3); };
  const auto ma = f(a), mb = f(b);
  const auto va = f(a * a) - ma * ma, vb = f(b * b) - mb * mb, cov = f(a * b) - ma * mb;
  const double c1 = 1e-4, c2 = 9e-4;
  const double expected =
      ((2 * ma * mb + c1) * (2 * cov + c2) / ((ma * ma + mb * mb + c1) * (va + vb + c2))).mean().item<double>();
  dmgn::losses::SsimWindow w;
  w.zero_padding = true;
  EXPECT_NEAR(dmgn::losses::ssim_mean(a, b, w).item<double>(), expected, 1e-12);
  w.zero_padding = false;
  EXPECT_GT(std::abs(dmgn::losses::ssim_mean(a, b, w).item<double>() - expected), 1e-4);
}

TEST_F(PReNet, TrainsWithTheSupervisedRecipe) {
  const auto dir = dmgn::testing::scratch("prenet_train");
  std::vector<std::string> o{"model.channels=4", "model.stages=2", "model.blocks=1", "data.crop=32",
                             "data.augment.short_side=[40, 48]", "data.builtin.train_pairs=8",
                             "data.builtin.heldout_pairs=2", "data.builtin.heldout_size=32", "data.workers=0",
                             "train.checkpoint_every=0", "train.batch_size=2", "train.max_steps=4",
                             "runtime.threads=1", "runtime.progress=false", "runtime.log_every=1"};
  o.push_back("runtime.store=\"" + (dir / "runs.sqlite").string() + "\"");
  o.push_back("runtime.out_dir=\"" + (dir / "runs").string() + "\"");
  const auto summary = dmgn::train::run_training(Config::load(kPrenetDir + "table5.toml", o));
  EXPECT_EQ(summary.steps, 4);
  dmgn::store::RunStore store(dir / "runs.sqlite");
  const auto ms = store.metrics(summary.run_id, "train", "ssim");
  ASSERT_EQ(ms.size(), 4u);
  for (const auto& m : ms) EXPECT_TRUE(m.value > 0 && m.value < 2);
  const auto run = store.run(summary.run_id);
  ASSERT_TRUE(run);
  EXPECT_EQ(run->status, "completed");
  EXPECT_EQ(run->experiment, "table5");
  EXPECT_EQ(run->variant, "PReNet");
  EXPECT_EQ(run->provenance.at("recipe"), "supervised");
}

}  // namespace
