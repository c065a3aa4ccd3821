// Loss term names (issue 31): a typo in an optional term's output, target or condition is a
// ConfigError naming the key, the value and the nearest known name (the model kind's registered
// outputs, the data module's field names), never a silently dropped term; an optional term
// dropped for a real reason (DMGN's "Coarse" has no refine phase; a dataset without Location-
// aware SIRR's alpha) is dropped and said, by `dmgn info` and at the start of training.
#include <gtest/gtest.h>

#include <opencv2/core.hpp>

#include <algorithm>
#include <filesystem>
#include <string>

#include "core/config.h"
#include "core/error.h"
#include "core/log.h"
#include "core/rng.h"
#include "data/dataset.h"
#include "data/synthesis.h"
#include "losses/terms.h"
#include "models/model.h"
#include "proc_util.h"
#include "test_util.h"
#include "train/builtins.h"

namespace fs = std::filesystem;
using dmgn::Config;
using dmgn::testing::error_of;

namespace {

const fs::path kExperiments = fs::path(DMGN_SOURCE_DIR) / "experiments";

Config tiny_dmgn(const std::string& file, std::vector<std::string> sets = {}) {
  auto all = dmgn::testing::tiny_model();
  all.insert(all.end(), sets.begin(), sets.end());
  return Config::load(kExperiments / file, all);
}

// What building the term set for cfg's model says (the recipe's TermSet), "" when it builds.
std::string term_set_error(const Config& cfg) {
  dmgn::register_builtins();
  const auto model = dmgn::models::build_model(cfg);
  return error_of<dmgn::ConfigError>([&] { dmgn::losses::TermSet terms(cfg, *model); });
}

TEST(LossTermNames, ATypoInAnOptionalTermsOutputIsRefusedNamingTheKeyAndTheNearestOutput) {
  const auto err = term_set_error(tiny_dmgn("table1/dmgn.toml", {"loss.terms.l1_r.output=\"backgroundd\""}));
  EXPECT_NE(err.find("config key 'loss.terms.l1_r.output' = \"backgroundd\""), std::string::npos) << err;
  EXPECT_NE(err.find("did you mean \"background\"?"), std::string::npos) << err;
  EXPECT_NE(err.find("set in --set"), std::string::npos) << err;
  EXPECT_EQ(err.find('\n'), std::string::npos) << err;
  // So is a typo in a term that does not train (weight 0), and in R-MBN's per-stage outputs.
  EXPECT_NE(term_set_error(tiny_dmgn("table1/dmgn.toml", {"loss.terms.p_r.weight=0", "loss.terms.p_r.output=\"bakground\""}))
                .find("'loss.terms.p_r.output' = \"bakground\""),
            std::string::npos);
  dmgn::register_builtins();
  EXPECT_TRUE(dmgn::models::can_output("mbn", "stage_haze"));
  EXPECT_FALSE(dmgn::models::can_output("mbn", "stage_"));
  EXPECT_FALSE(dmgn::models::can_output("mbn", "stages_haze"));
}

TEST(LossTermNames, ATypoInAnOptionalTermsTargetOrConditionIsRefusedNamingTheKeyAndTheNearestField) {
  const auto target = term_set_error(tiny_dmgn("table1/dmgn.toml", {"loss.terms.l1_n.target=\"backgroundd\""}));
  EXPECT_NE(target.find("config key 'loss.terms.l1_n.target' = \"backgroundd\""), std::string::npos) << target;
  EXPECT_NE(target.find("did you mean \"background\"?"), std::string::npos) << target;
  const auto condition = term_set_error(tiny_dmgn("table1/dmgn.toml", {"loss.terms.adv_r.condition=\"inptu\""}));
  EXPECT_NE(condition.find("config key 'loss.terms.adv_r.condition' = \"inptu\""), std::string::npos) << condition;
  EXPECT_NE(condition.find("did you mean \"input\"?"), std::string::npos) << condition;
  // Location-aware SIRR's alpha is a name the data module knows (reflection_linear provides it).
  const auto& fields = dmgn::data::field::all();
  EXPECT_NE(std::find(fields.begin(), fields.end(), "alpha"), fields.end());
}

TEST(LossTermNames, EverySynthesisProvidesOnlyFieldsTheDataModuleNames) {
  dmgn::register_builtins();
  const auto& fields = dmgn::data::field::all();
  for (const auto& name : dmgn::data::synths().names()) {
    SCOPED_TRACE(name);
    const Config cfg = Config::defaults({"data.builtin.synth=\"" + name + "\""});
    const auto synth = dmgn::data::synths().make(name, cfg);
    dmgn::data::SynthInput in;
    in.background = cv::Mat(64, 64, CV_32FC3, cv::Scalar(0.5, 0.4, 0.3));
    in.layer = cv::Mat(64, 64, CV_32FC3, cv::Scalar(0.2, 0.3, 0.4));
    in.depth = cv::Mat(64, 64, CV_32FC1, cv::Scalar(1.0));
    dmgn::Rng rng(1);
    const auto out = synth->synthesize(in, rng);
    for (const auto& [key, m] : out.extra)
      EXPECT_NE(std::find(fields.begin(), fields.end(), key), fields.end()) << "'" << key << "' is not in data::field::all()";
  }
}

TEST(LossTermNames, CoarseDropsItsRefineTermsAndSaysWhy) {
  const Config cfg = tiny_dmgn("table1/coarse.toml");
  dmgn::register_builtins();
  const auto model = dmgn::models::build_model(cfg);
  const dmgn::losses::TermSet terms(cfg, *model);
  std::vector<std::string> active, dropped;
  for (const auto& t : terms.active()) active.push_back(t.name);
  for (const auto& d : terms.dropped()) {
    dropped.push_back(d.name);
    EXPECT_NE(d.reason.find("declares no output 'background'"), std::string::npos) << d.reason;
  }
  EXPECT_EQ(active, (std::vector<std::string>{"l1_c", "p_c", "l1_n", "p_n"}));
  EXPECT_EQ(dropped, (std::vector<std::string>{"l1_r", "p_r", "adv_r"}));
}

TEST(LossTermNames, LocationSirrDropsItsAlphaTermsOnADatasetWithoutAlphaAndSaysSoOnce) {
  dmgn::register_builtins();
  const Config cfg = Config::load(kExperiments / "location_sirr/base.toml",
                                  {"model.width=4", "model.hidden=8", "model.ae_widths=[4, 8, 8]",
                                   "model.iterations=1", "loss.perceptual.taps=[2]", "loss.perceptual.weights=[1.0]",
                                   "loss.terms.adv.weight=0", "data.builtin.synth=\"reflection_zhang2018\""});
  const auto model = dmgn::models::build_model(cfg);
  dmgn::losses::LossContext ctx{dmgn::nn::Vgg19(), model->input_range()};
  const dmgn::losses::TermSet terms(cfg, *model, ctx);
  EXPECT_TRUE(terms.dropped().empty());  // the model declares every output
  // A batch as reflection_zhang2018 makes it: input, background, noise, reflection; no alpha.
  const auto x = torch::rand({1, 3, 16, 16});
  const dmgn::losses::NamedTensors batch{{"input", x}, {"background", torch::rand({1, 3, 16, 16})},
                                         {"noise", torch::rand({1, 3, 16, 16})}, {"reflection", torch::rand({1, 3, 16, 16})}};
  const auto out = model->forward(x);
  dmgn::log::set_level(dmgn::log::Level::info);
  ::testing::internal::CaptureStderr();
  const auto tv = terms.evaluate("generator", out, batch, {});
  terms.evaluate("generator", out, batch, {});
  const std::string log = ::testing::internal::GetCapturedStderr();
  std::vector<std::string> evaluated;
  for (const auto& [name, v] : tv.terms) evaluated.push_back(name);
  EXPECT_EQ(evaluated, (std::vector<std::string>{"comp_c", "p_t", "p_half", "p_quarter", "mix_ssim", "mix_l1"}));
  for (const char* t : {"comp_res_r", "comp_res_t"}) {
    const std::string line = std::string("loss term '") + t + "' dropped from batches without 'alpha'";
    const auto at = log.find(line);
    EXPECT_NE(at, std::string::npos) << log;
    EXPECT_EQ(log.find(line, at + 1), std::string::npos) << "said twice: " << log;
  }
}

TEST(LossTermNames, InfoRefusesATypoInOneLineAndListsTheTermsCoarseDrops) {
  std::string sets;
  for (const auto& s : dmgn::testing::tiny_model()) sets += " --set '" + s + "'";
  const auto typo = dmgn::testing::dmgn_shell("info " + (kExperiments / "table1/dmgn.toml").string() + sets +
                                              " --set 'loss.terms.l1_r.output=\"backgroundd\"'");
  EXPECT_NE(typo.code, 0);
  EXPECT_EQ(std::count(typo.out.begin(), typo.out.end(), '\n'), 1) << typo.out;
  EXPECT_NE(typo.out.find("loss.terms.l1_r.output"), std::string::npos) << typo.out;
  EXPECT_NE(typo.out.find("did you mean \"background\"?"), std::string::npos) << typo.out;
  const auto target = dmgn::testing::dmgn_shell("info " + (kExperiments / "table1/dmgn.toml").string() + sets +
                                                " --set 'loss.terms.l1_r.target=\"backgroundd\"'");
  EXPECT_NE(target.code, 0);
  EXPECT_EQ(std::count(target.out.begin(), target.out.end(), '\n'), 1) << target.out;
  EXPECT_NE(target.out.find("loss.terms.l1_r.target"), std::string::npos) << target.out;

  const auto coarse = dmgn::testing::dmgn_shell("info " + (kExperiments / "table1/coarse.toml").string() + sets + " --size 32");
  ASSERT_EQ(coarse.code, 0) << coarse.out;
  for (const char* t : {"l1_r", "p_r", "adv_r"})
    EXPECT_NE(coarse.out.find(std::string("dropped     ") + t + ": model 'dmgn' as configured declares no output 'background'"),
              std::string::npos)
        << coarse.out;
  EXPECT_NE(coarse.out.find("optional    l1_n (needs noise), p_n (needs noise)"), std::string::npos) << coarse.out;
}

}  // namespace
