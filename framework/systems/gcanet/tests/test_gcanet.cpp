// GCANet (framework/systems/gcanet/): the reference's parameter count and names, its MACs, the
// edge channel against a direct computation, the smallest input, the residual output, and a few
// training steps through the shared "supervised" recipe.
#include <gtest/gtest.h>

#include "core/config.h"
#include "metrics/macs.h"
#include "models/model.h"
#include "models/system_info.h"
#include "process_test.h"
#include "store/run_store.h"
#include "systems/gcanet/gcanet.h"
#include "systems/gcanet/register.h"
#include "test_util.h"
#include "train/trainer.h"

using dmgn::Config;

namespace {

const std::string kGcanetDir = std::string(DMGN_SOURCE_DIR) + "/experiments/gcanet/";

class GcaNet : public dmgn::testing::ProcessTest {
 protected:
  void SetUp() override {
    ProcessTest::SetUp();
    dmgn::systems::register_gcanet();
  }
};

Config gcanet(std::vector<std::string> sets = {}) { return Config::load(kGcanetDir + "base.toml", sets); }

TEST_F(GcaNet, TheReferenceNetworkHasItsParameterCountNamesAndMacs) {
  const Config cfg = gcanet();
  EXPECT_EQ(dmgn::models::system_name(cfg), "GCANet");
  auto m = dmgn::models::build_model(cfg);
  int64_t n = 0;
  for (const auto& p : m->parameters()) n += p.numel();
  EXPECT_EQ(n, 702818);  // GCANet(in_c=4, out_c=3, only_residual=True), counted with the reference
  const auto named = m->named_parameters();
  EXPECT_EQ(named.size(), 75u);
  for (const char* k : {"conv1.weight", "norm1.bias", "res1.pre_conv1.weight", "res4.pre_conv2.weight",
                        "res7.conv2.weight", "gate.bias", "deconv3.weight", "deconv1.bias"})
    EXPECT_TRUE(named.contains(k)) << k;
  EXPECT_FALSE(named.contains("res7.pre_conv1.weight"));
  EXPECT_FALSE(named.contains("conv1.bias"));
  EXPECT_EQ(named["res4.pre_conv1.weight"].sizes(), torch::IntArrayRef({1, 1, 7, 7}));
  EXPECT_EQ(named["deconv3.weight"].sizes(), torch::IntArrayRef({64, 64, 4, 4}));  // in x out x k x k
  // Forward hooks on the reference at 64 x 64: 973,668,352 MACs (the transposed conv counted by
  // its input elements, the ShareSepConvs by their outputs x k^2).
  torch::NoGradGuard g;
  dmgn::metrics::MacCounter c;
  m->forward(torch::rand({1, 3, 64, 64}));
  EXPECT_EQ(c.total(), 973668352ull);
}

TEST_F(GcaNet, EdgeChannelIsTheMeanAbsoluteDifferenceWithTheNeighbours) {
  torch::manual_seed(0);
  const auto x = torch::randint(0, 256, {1, 3, 5, 7}).to(torch::kFloat);
  const auto e = dmgn::models::gcanet::edge(x);
  for (int64_t i = 0; i < 5; ++i)
    for (int64_t j = 0; j < 7; ++j) {
      double s = 0;
      for (const auto& [di, dj] : std::vector<std::pair<int, int>>{{-1, 0}, {1, 0}, {0, -1}, {0, 1}}) {
        const int64_t a = i + di, b = j + dj;
        if (a < 0 || a >= 5 || b < 0 || b >= 7) continue;
        s += (x[0].select(1, a).select(1, b) - x[0].select(1, i).select(1, j)).abs().sum().item<double>();
      }
      EXPECT_FLOAT_EQ(e[0][0][i][j].item<float>(), static_cast<float>(s / 12)) << i << "," << j;
    }
}

TEST_F(GcaNet, ResidualOutputAndSmallestInput) {
  const Config cfg = gcanet({"model.channels=4"});
  const auto req = dmgn::models::input_requirement(cfg);
  EXPECT_EQ(req.min_side, 4);
  EXPECT_EQ(req.multiple, 2);
  EXPECT_FALSE(req.refuses(6, 4).empty() && req.refuses(5, 4).empty());
  EXPECT_TRUE(req.refuses(4, 6).empty());
  torch::manual_seed(1);
  auto m = dmgn::models::build_model(cfg);
  const auto x = torch::rand({1, 3, 8, 12});
  const auto out = m->forward(x);
  EXPECT_LT((out.get("background") - (x + out.get("residual") / 255.0)).abs().max().item<double>(), 1e-6);
  auto img = dmgn::models::build_model(gcanet({"model.channels=4", "model.only_residual=false"}));
  const auto o2 = img->forward(x);
  EXPECT_GE(o2.get("residual").min().item<double>(), 0.0);  // ReLU: the image itself, 0..255
  EXPECT_TRUE(torch::allclose(o2.get("background"), o2.get("residual") / 255.0));
}

TEST_F(GcaNet, TrainsWithTheSupervisedRecipe) {
  const auto dir = dmgn::testing::scratch("gcanet_train");
  std::vector<std::string> o{"model.channels=4", "data.crop=32", "data.augment.short_side=[40, 48]",
                             "data.builtin.train_pairs=8", "data.builtin.heldout_pairs=2",
                             "data.builtin.heldout_size=32", "data.workers=0", "train.checkpoint_every=0",
                             "train.batch_size=2", "train.max_steps=3", "runtime.threads=1",
                             "runtime.progress=false", "runtime.log_every=1"};
  o.push_back("runtime.store=\"" + (dir / "runs.sqlite").string() + "\"");
  o.push_back("runtime.out_dir=\"" + (dir / "runs").string() + "\"");
  const auto summary = dmgn::train::run_training(Config::load(kGcanetDir + "table6.toml", o));
  EXPECT_EQ(summary.steps, 3);
  dmgn::store::RunStore store(dir / "runs.sqlite");
  EXPECT_EQ(store.metrics(summary.run_id, "train", "mse").size(), 3u);
  const auto run = store.run(summary.run_id);
  ASSERT_TRUE(run);
  EXPECT_EQ(run->status, "completed");
  EXPECT_EQ(run->variant, "GCANet");
  EXPECT_FALSE(store.metrics(summary.run_id, "test", "psnr").empty());
}

}  // namespace
