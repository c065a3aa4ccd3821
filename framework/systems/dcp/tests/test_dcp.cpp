// The dark channel prior (framework/systems/dcp/): its parts against direct computations (the
// truncated box mean, the dark channel, the airlight pick), its recovery of a haze made with
// the model it inverts (exact with omega = 1 and no refinement; better than the input with the
// papers' defaults), and the training-free seam: `dmgn train` records a completed run of 0
// steps with test scores and a weightless checkpoint, and `dmgn eval --config` scores it
// without one while a trained model's config alone is refused.
#include <gtest/gtest.h>

#include "core/config.h"
#include "core/error.h"
#include "models/model.h"
#include "models/system_info.h"
#include "process_test.h"
#include "store/run_store.h"
#include "systems/dcp/dcp.h"
#include "systems/dcp/register.h"
#include "test_util.h"
#include "train/trainer.h"

using dmgn::Config;
namespace dcp = dmgn::models::dcp;

namespace {

const std::string kDcpDir = std::string(DMGN_SOURCE_DIR) + "/experiments/dcp/";

class Dcp : public dmgn::testing::ProcessTest {
 protected:
  void SetUp() override {
    ProcessTest::SetUp();
    dmgn::systems::register_dcp();
  }
};

double psnr(const torch::Tensor& a, const torch::Tensor& b) {
  return -10 * std::log10((a - b).pow(2).mean().item<double>());
}

TEST_F(Dcp, BoxMeanAndDarkChannelEqualTheirDirectComputation) {
  torch::manual_seed(3);
  const auto x = torch::rand({2, 3, 9, 13});
  const int64_t r = 3;
  const auto box = dcp::box_mean(x, r);
  const auto dark = dcp::dark_channel(x, 2 * r + 1);
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t i = 0; i < 9; ++i)
      for (int64_t j = 0; j < 13; ++j) {
        const int64_t i0 = std::max<int64_t>(0, i - r), i1 = std::min<int64_t>(9, i + r + 1);
        const int64_t j0 = std::max<int64_t>(0, j - r), j1 = std::min<int64_t>(13, j + r + 1);
        const auto win = x[n].slice(1, i0, i1).slice(2, j0, j1);
        for (int64_t c = 0; c < 3; ++c)
          EXPECT_NEAR(box[n][c][i][j].item<double>(), win[c].mean().item<double>(), 1e-6);
        EXPECT_FLOAT_EQ(dark[n][0][i][j].item<float>(), win.min().item<float>());
      }
}

// A constant guide makes the guided filter a box mean of p (a = 0, b = mean p).
TEST_F(Dcp, GuidedFilterWithAFlatGuideIsTheBoxMean) {
  torch::manual_seed(4);
  const auto p = torch::rand({1, 1, 20, 17});
  const auto q = dcp::guided_filter(torch::full({1, 1, 20, 17}, 0.5), p, 4, 1e-4);
  EXPECT_LT((q - dcp::box_mean(dcp::box_mean(p, 4), 4)).abs().max().item<double>(), 1e-5);
  // An edge in the guide is kept: p = the guide itself comes back nearly unchanged.
  auto g = torch::zeros({1, 1, 20, 17});
  g.slice(3, 8, 17).fill_(1);
  EXPECT_LT((dcp::guided_filter(g, g, 4, 1e-4) - g).abs().max().item<double>(), 1e-3);
}

// A scene whose every pixel has a zero channel (dark channel 0) under a sky of airlight:
// I = J t + A (1 - t), t = 0.6 below the sky, 0 in it (I = A there).
struct Haze {
  torch::Tensor clear, hazy, a;
};
Haze make_haze() {
  torch::manual_seed(5);
  const int64_t h = 64, w = 64;
  auto j = torch::rand({1, 3, h, w});
  const auto zero = torch::randint(0, 3, {1, 1, h, w});
  j = j * (1 - torch::nn::functional::one_hot(zero.squeeze(1), 3).permute({0, 3, 1, 2}).to(torch::kFloat));
  auto t = torch::full({1, 1, h, w}, 0.6);
  t.slice(2, 0, 16).fill_(0);
  const auto a = torch::tensor({0.9f, 0.85f, 0.8f}).view({1, 3, 1, 1});
  return {j, j * t + a * (1 - t), a};
}

TEST_F(Dcp, RecoversAHazeItsModelMade) {
  const Haze s = make_haze();
  // omega = 1, no refinement, t0 below t: the inversion is exact away from the sky's border
  // (rows >= 16 + patch / 2).
  const Config exact = Config::load(kDcpDir + "base.toml", {"model.omega=1.0", "model.refinement=\"none\"", "model.patch=7"});
  auto m = dmgn::models::build_model(exact);
  EXPECT_EQ(m->parameters().size(), 0u);
  const auto out = m->forward(s.hazy);
  EXPECT_LT((out.get("airlight") - s.a).abs().max().item<double>(), 1e-6);
  const auto inner = [](const torch::Tensor& x) { return x.slice(2, 19, 64); };
  EXPECT_LT((inner(out.get("transmission")) - 0.6).abs().max().item<double>(), 1e-5);
  EXPECT_LT((inner(out.get("background")) - inner(s.clear)).abs().max().item<double>(), 1e-5);
  // The papers' defaults (omega 0.95 keeps some haze, the guided filter smooths t): better than
  // the input by a wide margin, not exact.
  auto d = dmgn::models::build_model(Config::load(kDcpDir + "base.toml"));
  const auto j = d->forward(s.hazy).get("background");
  const double before = psnr(inner(s.hazy), inner(s.clear)), after = psnr(inner(j), inner(s.clear));
  EXPECT_GT(after, before + 10) << "input " << before << " dB, DCP " << after << " dB";
  // "mean" airlight: the sky's candidates are all A, so the same A.
  auto mean = dmgn::models::build_model(Config::load(kDcpDir + "base.toml", {"model.airlight=\"mean\""}));
  EXPECT_LT((mean->forward(s.hazy).get("airlight") - s.a).abs().max().item<double>(), 1e-6);
}

TEST_F(Dcp, RefusesAnEvenPatchAndUnknownChoices) {
  EXPECT_NE(dmgn::testing::error_of<dmgn::ConfigError>(
                [] { dmgn::models::build_model(Config::load(kDcpDir + "base.toml", {"model.patch=4"})); })
                .find("model.patch"),
            std::string::npos);
  EXPECT_NE(dmgn::testing::error_of<dmgn::ConfigError>([] {
              dmgn::models::build_model(Config::load(kDcpDir + "base.toml", {"model.refinement=\"matting\""}));
            }).find("model.refinement"),
            std::string::npos);
}

// `dmgn train` of a training-free method: no training data, no recipe, 0 steps; the run is
// completed with its test scores per image and a checkpoint that `dmgn eval` accepts.
TEST_F(Dcp, TrainRecordsAZeroStepRunAndEvalNeedsNoCheckpoint) {
  EXPECT_TRUE(dmgn::models::training_free(Config::load(kDcpDir + "base.toml")));
  const auto dir = dmgn::testing::scratch("dcp_run");
  std::vector<std::string> o{"data.builtin.heldout_pairs=3", "data.builtin.heldout_size=48",
                             "runtime.threads=1", "runtime.progress=false"};
  o.push_back("runtime.store=\"" + (dir / "runs.sqlite").string() + "\"");
  o.push_back("runtime.out_dir=\"" + (dir / "runs").string() + "\"");
  const auto summary = dmgn::train::run_training(Config::load(kDcpDir + "table6.toml", o));
  EXPECT_EQ(summary.steps, 0);
  ASSERT_EQ(summary.tests.size(), 1u);
  EXPECT_GT(summary.tests[0].psnr, summary.tests[0].psnr_input) << "DCP does not beat the hazy input";
  dmgn::store::RunStore store(dir / "runs.sqlite");
  const auto run = store.run(summary.run_id);
  ASSERT_TRUE(run);
  EXPECT_EQ(run->status, "completed");
  EXPECT_EQ(run->experiment, "table6");
  EXPECT_EQ(run->variant, "DCP");
  EXPECT_EQ(run->provenance.at("training_free"), "true");
  EXPECT_EQ(run->provenance.at("steps"), "0");
  EXPECT_EQ(store.evaluations(summary.run_id).size(), 1u);
  EXPECT_TRUE(store.metrics(summary.run_id, "train", "loss").empty());
  const auto ckpt = summary.run_dir / "checkpoints";
  ASSERT_TRUE(std::filesystem::exists(ckpt));

  // dmgn eval: the checkpoint, and the config alone; a trained model's config alone is refused.
  const std::string store_arg = " --store " + (dir / "runs.sqlite").string();
  const std::string cfg_sets = " --set data.builtin.heldout_pairs=3 --set data.builtin.heldout_size=48 --set runtime.threads=1";
  const auto by_config =
      dmgn::testing::dmgn_shell("eval --config " + kDcpDir + "table6.toml" + cfg_sets + store_arg);
  ASSERT_EQ(by_config.code, 0) << by_config.out;
  EXPECT_NE(by_config.out.find("training-free dcp"), std::string::npos) << by_config.out;
  const auto trained = dmgn::testing::dmgn_shell("eval --config " + std::string(DMGN_SOURCE_DIR) +
                                                 "/experiments/quickstart.toml" + store_arg);
  EXPECT_NE(trained.code, 0);
  EXPECT_NE(trained.out.find("is trained: give its checkpoint"), std::string::npos) << trained.out;
  // The same images, the same scores: the config's evaluation equals the run's test.
  dmgn::store::EvalFilter f;
  bool found = false;
  for (const auto& e : store.evaluations(f))
    if (e.origin == "eval") {
      EXPECT_NEAR(e.psnr, summary.tests[0].psnr, 1e-9);
      found = true;
    }
  EXPECT_TRUE(found);
}

}  // namespace
