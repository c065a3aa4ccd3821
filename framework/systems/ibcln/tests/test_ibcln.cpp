// IBCLN (framework/systems/ibcln/): the reference's parameter counts, names and MACs, the
// iteration over T and R (T_0 = I, R_0 = 0.1, G_R seeing this iteration's T, the LSTM states
// carried), the importer, the residual reconstruction against a hand computation, and a few
// training steps through the ibcln recipe (generators, then the LSGAN critic) with every term.
#include <gtest/gtest.h>

#include <cmath>

#include "core/config.h"
#include "losses/losses.h"
#include "metrics/macs.h"
#include "models/model.h"
#include "models/system_info.h"
#include "process_test.h"
#include "store/run_store.h"
#include "systems/ibcln/ibcln.h"
#include "systems/ibcln/register.h"
#include "test_util.h"
#include "train/trainer.h"

using dmgn::Config;

namespace {

const std::string kIbclnDir = std::string(DMGN_SOURCE_DIR) + "/experiments/ibcln/";

class Ibcln : public dmgn::testing::ProcessTest {
 protected:
  void SetUp() override {
    ProcessTest::SetUp();
    dmgn::systems::register_ibcln();
  }
};

Config ibcln(std::vector<std::string> sets = {}) { return Config::load(kIbclnDir + "base.toml", sets); }

TEST_F(Ibcln, TheReferenceGeneratorsHaveTheirParameterCountsNamesAndMacs) {
  const Config cfg = ibcln();
  EXPECT_EQ(dmgn::models::system_name(cfg), "IBCLN");
  auto m = dmgn::models::build_model(cfg);
  const auto sections = m->parameter_sections();
  ASSERT_EQ(sections.size(), 3u);
  EXPECT_EQ(sections[0].second, 10804169);  // Generator_drop(9, 3, 64), counted with the reference
  EXPECT_EQ(sections[1].second, 10804169);
  size_t g_t = 0, g_r = 0;
  for (const auto& p : m->named_parameters()) {
    g_t += p.key().rfind("net_G_T.", 0) == 0;
    g_r += p.key().rfind("net_G_R.", 0) == 0;
  }
  EXPECT_EQ(g_t, 46u);
  EXPECT_EQ(g_r, 46u);
  const auto named = m->named_parameters();
  for (const char* k : {"net_G_T.conv1.0.weight", "net_G_T.diconv4.0.bias", "net_G_R.conv_g.0.weight",
                        "net_G_R.deconv2.0.weight", "net_G_T.outframe2.0.bias", "net_G_R.output.0.weight"})
    EXPECT_TRUE(named.contains(k)) << k;
  EXPECT_EQ(named["net_G_T.deconv1.0.weight"].sizes(), torch::IntArrayRef({256, 128, 4, 4}));
  EXPECT_EQ(named["net_G_T.conv1.0.weight"].sizes(), torch::IntArrayRef({64, 9, 5, 5}));
  // Forward hooks on the reference: 19,683,999,744 MACs for the 6 generator passes at 64 x 64,
  // proportional to H W: a quarter at 32 x 32.
  m->eval();
  torch::NoGradGuard g;
  dmgn::metrics::MacCounter c;
  m->forward(torch::rand({1, 3, 32, 32}));
  EXPECT_EQ(c.total(), 19683999744ull / 4);
}

TEST_F(Ibcln, IteratesOverTAndR) {
  torch::manual_seed(0);
  auto m = dmgn::models::build_model(ibcln({"model.init=\"pytorch\""}));
  m->eval();
  torch::NoGradGuard g;
  const auto x = torch::rand({1, 3, 16, 20});
  const auto out = m->forward(x);
  const auto ts = out.list("transmissions"), rs = out.list("reflections"), layers = out.list("layers");
  ASSERT_EQ(ts.size(), 3u);
  ASSERT_EQ(rs.size(), 3u);
  EXPECT_TRUE(torch::equal(ts.back(), out.get("background")));
  EXPECT_TRUE(torch::equal(rs.back(), out.get("reflection")));
  EXPECT_TRUE(torch::equal(layers[1], torch::cat({ts[1], rs[1]}, 1)));
  EXPECT_EQ(out.get("background_half").sizes(), torch::IntArrayRef({1, 3, 8, 10}));
  EXPECT_EQ(out.get("background_quarter").sizes(), torch::IntArrayRef({1, 3, 4, 5}));
  // One iteration by hand from the generators: T_1 = G_T(cat[I, I, 0.1]), R_1 = G_R(cat[I, T_1, 0.1]).
  auto* model = dynamic_cast<dmgn::models::Ibcln*>(m.get());
  ASSERT_TRUE(model);
  auto one = dmgn::models::build_model(ibcln({"model.init=\"pytorch\"", "model.iterations=1"}));
  one->eval();
  for (auto& p : one->named_parameters()) p.value().copy_(m->named_parameters()[p.key()]);
  const auto first = one->forward(x);
  EXPECT_TRUE(torch::equal(first.get("background"), ts[0]));
  EXPECT_TRUE(torch::equal(first.get("reflection"), rs[0]));
  EXPECT_FALSE(torch::equal(ts[1], ts[0]));
}

TEST_F(Ibcln, ImportsBothGeneratorsByNameKeepingItsVgg) {
  torch::manual_seed(1);
  auto src = dmgn::models::build_model(ibcln());
  std::map<std::string, torch::Tensor> state;
  for (const auto& p : src->named_parameters())
    if (p.key().rfind("vgg.", 0) != 0) state[p.key()] = p.value().detach().clone() + 0.5;
  torch::manual_seed(2);
  auto dst = dmgn::models::build_model(ibcln());
  EXPECT_EQ(dst->import_reference(state, "mem"), 92);
  EXPECT_TRUE(torch::equal(dst->named_parameters()["net_G_R.conv_o.0.bias"], state["net_G_R.conv_o.0.bias"]));
  state.erase("net_G_T.conv1.0.bias");
  EXPECT_ANY_THROW(dst->import_reference(state, "mem"));
}

TEST_F(Ibcln, ResidualReconstructionIsTheReferencesFormula) {
  const Config cfg = ibcln();
  auto m = dmgn::models::build_model(cfg);
  auto loss = dmgn::losses::losses().make("residual_layers", cfg, dmgn::losses::LossContext{nullptr, m->input_range()});
  auto* batch_loss = dynamic_cast<dmgn::losses::BatchLoss*>(loss.get());
  ASSERT_TRUE(batch_loss);
  torch::manual_seed(3);
  const auto t = torch::rand({2, 3, 4, 4}), r = torch::rand({2, 3, 4, 4}) * 0.3, i = torch::rand({2, 3, 4, 4});
  const auto alpha = torch::tensor({0.8f, 0.9f}).view({2, 1, 1, 1});
  const auto expected = (i.pow(2.2) - (alpha * t.pow(2.2) + r.pow(2.2))).pow(2).mean().item<double>();
  const double got = (*batch_loss)(torch::cat({t, r}, 1), {{"input", i}, {"alpha", alpha.view({2, 1, 1, 1})}}).item<double>();
  EXPECT_NEAR(got, expected, 1e-6);
}

TEST_F(Ibcln, TrainsEveryTermThroughItsRecipe) {
  const auto dir = dmgn::testing::scratch("ibcln_train");
  std::vector<std::string> o{"model.iterations=2", "discriminator.ndf=4", "data.crop=32",
                             "data.augment.short_side=[40, 48]", "data.builtin.train_pairs=4",
                             "data.builtin.heldout_pairs=1", "data.builtin.heldout_size=32", "data.workers=0",
                             "train.val_every=0", "train.checkpoint_every=0", "train.batch_size=1",
                             "train.max_steps=2", "runtime.threads=1", "runtime.progress=false", "runtime.log_every=1"};
  o.push_back("runtime.store=\"" + (dir / "runs.sqlite").string() + "\"");
  o.push_back("runtime.out_dir=\"" + (dir / "runs").string() + "\"");
  const auto summary = dmgn::train::run_training(ibcln(o));
  EXPECT_EQ(summary.steps, 2);
  dmgn::store::RunStore store(dir / "runs.sqlite");
  for (const char* t : {"pixel", "residual", "residual_r", "vgg", "vgg_half", "vgg_quarter", "gan", "d_loss"}) {
    const auto ms = store.metrics(summary.run_id, "train", t);
    EXPECT_EQ(ms.size(), 2u) << t;
    for (const auto& m : ms) EXPECT_TRUE(std::isfinite(m.value)) << t;
  }
  const auto run = store.run(summary.run_id);
  ASSERT_TRUE(run);
  EXPECT_EQ(run->status, "completed");
  EXPECT_EQ(run->variant, "IBCLN");
}

}  // namespace
