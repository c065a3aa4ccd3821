// Inputs checked for what they must be before anything runs (README, "Reliability"): config
// paths, value ranges and registered names at load time, images smaller than the model, broken
// checkpoints, datasets declared for evaluation, and the wording of the errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/config_rules.h"
#include "core/schema.h"
#include "core/error.h"
#include "data/check.h"
#include "data/image_io.h"
#include "models/model.h"
#include "proc_util.h"
#include "test_util.h"
#include "train/builtins.h"
#include "train/checkpoint.h"
#include "train/trainer.h"

namespace {

namespace fs = std::filesystem;
using dmgn::Config;
using dmgn::testing::dmgn_shell;
using dmgn::testing::error_of;

class Inputs : public ::testing::Test {
 protected:
  void SetUp() override { dmgn::register_builtins(); }
};

int lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

void save_png(const fs::path& p, int h, int w, double shade) {
  dmgn::data::write_image(p, dmgn::data::to_mat(torch::full({3, h, w}, shade) +
                                               0.1 * torch::rand({3, h, w})));
}

TEST_F(Inputs, AFolderIsNotAConfig) {
  const std::string folder = std::string(DMGN_SOURCE_DIR) + "/experiments/table1";
  const std::string err = error_of<dmgn::ConfigError>([&] { Config::load(folder); });
  EXPECT_NE(err.find("is a folder, not a config file"), std::string::npos) << err;
  EXPECT_NE(err.find("dmgn.toml"), std::string::npos) << err;  // what it holds
  // As an `extends` entry too.
  const auto dir = dmgn::testing::scratch("folder_config");
  std::ofstream(dir / "child.toml") << "extends = [\"" << folder << "/\"]\n";
  EXPECT_NE(error_of<dmgn::ConfigError>([&] { Config::load(dir / "child.toml"); }).find("is a folder"),
            std::string::npos);
  // Every command that takes a config: exit 1, one line, nothing run.
  for (const char* cmd : {"config show ", "info ", "train ", "data check "}) {
    const auto r = dmgn_shell(std::string(cmd) + folder + "/ --set runtime.store='\"" + (dir / "s.sqlite").string() + "\"'");
    EXPECT_EQ(r.code, 1) << cmd << r.out;
    EXPECT_EQ(lines(r.out), 1) << cmd << r.out;
    EXPECT_NE(r.out.find("is a folder"), std::string::npos) << cmd << r.out;
  }
  EXPECT_FALSE(fs::exists(dir / "s.sqlite"));
}

TEST_F(Inputs, ValuesAreCheckedAgainstTheirRangesAndRegistriesAtLoad) {
  const auto err = [](std::vector<std::string> sets) {
    return error_of<dmgn::ConfigError>([&] { Config::defaults(sets); });
  };
  EXPECT_NE(err({"train.max_steps=-5"}).find("config key 'train.max_steps' = -5: must be >= 0 (set in --set "),
            std::string::npos);
  EXPECT_NE(err({"optim.lr=0"}).find("'optim.lr' = 0: must be > 0"), std::string::npos);
  EXPECT_NE(err({"train.precision=\"fp8\""}).find("\"fp8\": is not one of fp32, bf16"), std::string::npos);
  EXPECT_NE(err({"optim.betas=[0.9, 1.0]"}).find("'optim.betas' = 1: must be < 1"), std::string::npos);
  EXPECT_NE(err({"eval.custom.window_size=4"}).find("must be odd"), std::string::npos);
  EXPECT_NE(err({"model.cell=\"rdmcc\""}).find("no cell of that name is registered (known: "), std::string::npos);
  EXPECT_NE(err({"data.test=[\"real21\"]"}).find("or declare a [datasets.real21] table"), std::string::npos);
  EXPECT_NO_THROW(Config::defaults({"data.test=[\"real20\"]"}));  // a declared benchmark
  // Overrides are checked too, and a failed one leaves the config as it was.
  Config c = Config::defaults();
  EXPECT_THROW(c.set("data.crop=-1"), dmgn::ConfigError);
  EXPECT_EQ(c.get_int("data.crop"), 256);
  // The file and line of a bad value.
  const auto dir = dmgn::testing::scratch("ranges");
  std::ofstream(dir / "bad.toml") << "[train]\nbatch_size = 0\n";
  EXPECT_NE(error_of<dmgn::ConfigError>([&] { Config::load(dir / "bad.toml"); }).find("bad.toml:2"),
            std::string::npos);
  // config show refuses what train would refuse.
  const auto show = dmgn_shell("config show " + std::string(DMGN_SOURCE_DIR) +
                               "/experiments/quickstart.toml --set 'train.precision=\"fp8\"'");
  EXPECT_EQ(show.code, 1) << show.out;

  // Every numeric key of the schema has a rule, and every integer key's rule bounds it from above
  // (with its reason) or says "unbounded" (steps, seeds, counts that size nothing).
  const auto rules = dmgn::config_rules::keys_with_rules();
  std::vector<std::string> missing, unbounded;
  std::function<void(const toml::table&, const std::string&)> walk = [&](const toml::table& t,
                                                                         const std::string& prefix) {
    for (auto&& [k, v] : t) {
      const std::string key = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
      if (v.is_table()) {
        // Open tables ([datasets.NAME], [loss.terms.NAME]): their entries share the "*" rule.
        walk(*v.as_table(), prefix == "datasets" || key.rfind("loss.terms.", 0) == 0 ? prefix + ".*" : key);
        continue;
      }
      const bool numeric = v.is_integer() || v.is_floating_point() ||
                           (v.is_array() && !v.as_array()->empty() &&
                            (v.as_array()->get(0)->is_integer() || v.as_array()->get(0)->is_floating_point()));
      if (numeric && std::find(rules.begin(), rules.end(), key) == rules.end()) missing.push_back(key);
      const bool integer = v.is_integer() || (v.is_array() && !v.as_array()->empty() && v.as_array()->get(0)->is_integer());
      if (integer && !dmgn::config_rules::states_upper_bound(key)) unbounded.push_back(key);
    }
  };
  for (const auto& f : dmgn::schema::catalog()->fragments()) walk(f->table, "");
  EXPECT_TRUE(missing.empty()) << "numeric keys without a rule in their schema fragment: "
                               << ::testing::PrintToString(missing);
  EXPECT_TRUE(unbounded.empty()) << "integer keys with neither an upper bound nor \"unbounded\" in their rule: "
                                 << ::testing::PrintToString(unbounded);
}

TEST_F(Inputs, ImagesSmallerThanTheModelTakesAreNamedAndFollowOnBadSample) {
  // The tiny model: widths [4, 8, 8] (two stride-2 levels: at least 5 px), refine dilations 1, 2.
  const auto dir = dmgn::testing::scratch("too_small");
  for (const char* sub : {"input", "target"}) fs::create_directories(dir / "bench" / sub);
  save_png(dir / "bench/input/big.png", 24, 20, 0.4);
  save_png(dir / "bench/target/big.png", 24, 20, 0.5);
  save_png(dir / "bench/input/small.png", 4, 6, 0.4);
  save_png(dir / "bench/target/small.png", 4, 6, 0.5);
  auto sets = dmgn::testing::tiny_model();
  sets.push_back("datasets.mine.root=\"" + (dir / "bench").string() + "\"");
  const Config cfg = Config::defaults(sets);
  const auto need = dmgn::models::input_requirement(cfg);
  EXPECT_EQ(need.min_side, 5);
  EXPECT_NE(need.why.find("model.widths"), std::string::npos) << need.why;
  EXPECT_EQ(dmgn::models::input_requirement(Config::defaults()).min_side, 17);  // paper: dilation 16

  const auto ds = dmgn::train::open_for_model(cfg, "mine", dmgn::data::Split::heldout);
  ASSERT_EQ(ds->size(), 2u);
  const std::string err = error_of<dmgn::DataError>([&] { ds->get(1, 0); });
  EXPECT_NE(err.find("small"), std::string::npos) << err;
  EXPECT_NE(err.find("smaller than the 5x5 the model takes"), std::string::npos) << err;
  EXPECT_NO_THROW(ds->get(0, 0));
  // data check lists it (a "too_small" problem).
  const auto checks = dmgn::data::check_datasets(cfg, {"mine"}, 1, {}, need.min_side, need.why);
  ASSERT_FALSE(checks.empty());
  bool listed = false;
  for (const auto& i : checks[0].issues) listed = listed || (i.kind == "too_small" && i.file.find("small.png") != std::string::npos);
  EXPECT_TRUE(listed);
  // Training crops smaller than the model takes: refused at start, naming data.crop.
  auto crop = sets;
  crop.push_back("data.crop=4");
  EXPECT_NE(error_of<dmgn::ConfigError>([&] { dmgn::train::check_crop_fits_model(Config::defaults(crop)); })
                .find("config key 'data.crop' = 4 is smaller than the 5x5"),
            std::string::npos);
}

TEST_F(Inputs, ACheckpointHoldingNanIsRefusedNamingTheTensor) {
  const auto dir = dmgn::testing::scratch("nan_ckpt");
  const Config cfg = Config::defaults(dmgn::testing::tiny_model());
  auto model = dmgn::models::build_model(cfg);
  {
    torch::NoGradGuard g;
    model->named_parameters()["refine.in.weight"].view({-1})[0] = std::numeric_limits<float>::quiet_NaN();
  }
  dmgn::train::CheckpointMeta meta;
  meta.kind = "weights";
  meta.config_text = cfg.canonical();
  dmgn::train::save_checkpoint(dir / "nan.ckpt", meta, dmgn::train::CheckpointParts::weights(model.get()));
  auto fresh = dmgn::models::build_model(cfg);
  const std::string err = error_of<dmgn::DataError>(
      [&] { dmgn::train::load_checkpoint(dir / "nan.ckpt", dmgn::train::CheckpointParts::weights(fresh.get())); });
  EXPECT_NE(err.find("model tensor 'refine.in.weight' holds non-finite values"), std::string::npos) << err;
}

TEST_F(Inputs, DatasetsDeclaredForEvaluationAndErrorWording) {
  const auto dir = dmgn::testing::scratch("eval_config");
  // A checkpoint to evaluate, and one's own paired folder declared in a small TOML file.
  auto sets = dmgn::testing::tiny_run(dir);
  for (const char* s : {"train.max_steps=1", "train.checkpoint_every=1"}) sets.push_back(s);
  const auto run = dmgn::train::run_training(Config::defaults(sets));
  const auto ckpt = dmgn::train::latest_checkpoint(run.run_dir / "checkpoints");
  ASSERT_TRUE(ckpt.has_value());
  for (const char* sub : {"input", "target"}) fs::create_directories(dir / "bench" / sub);
  save_png(dir / "bench/input/a.png", 24, 20, 0.4);
  save_png(dir / "bench/target/a.png", 24, 20, 0.5);
  std::ofstream(dir / "mine.toml") << "[datasets.mine]\nroot = \"" << (dir / "bench").string() << "\"\n";
  const auto eval = dmgn_shell("eval " + ckpt->string() + " --config " + (dir / "mine.toml").string() +
                               " --dataset mine --store " + (dir / "runs.sqlite").string());
  EXPECT_EQ(eval.code, 0) << eval.out;
  EXPECT_NE(eval.out.find("mine: evaluation"), std::string::npos) << eval.out;
  // The same table given with --set gets the template's other keys (layout, only, ...).
  Config c = Config::from_canonical(dmgn::train::read_checkpoint_meta(*ckpt).config_text);
  c.set("datasets.other.root=\"" + (dir / "bench").string() + "\"");
  EXPECT_EQ(c.get_string("datasets.other.layout"), "auto");
  EXPECT_TRUE(c.get_strings("datasets.other.only").empty());
  const auto by_set = dmgn_shell("eval " + ckpt->string() + " --set 'datasets.other.root=\"" +
                                 (dir / "bench").string() + "\"' --dataset other --store " +
                                 (dir / "runs.sqlite").string());
  EXPECT_EQ(by_set.code, 0) << by_set.out;
  const auto negative = dmgn_shell("eval " + ckpt->string() + " --max-samples -1");
  EXPECT_NE(negative.code, 0);
  EXPECT_NE(negative.out.find("must be an integer >= 0, got '-1'"), std::string::npos) << negative.out;

  // Wording.
  const auto unknown = dmgn_shell("trian x.toml");
  EXPECT_EQ(unknown.code, 1);
  EXPECT_NE(unknown.out.find("unknown command 'trian' (did you mean 'train'?)"), std::string::npos) << unknown.out;
  const auto nproc = dmgn_shell("launch --nproc 0 -- train x.toml");
  EXPECT_NE(nproc.out.find("must be an integer >= 1, got '0'"), std::string::npos) << nproc.out;
  EXPECT_LT(nproc.out.size(), 300u) << nproc.out;
  const auto import = dmgn_shell("import-official " + ckpt->string() + " --task reflection --out " +
                                 (dir / "x.ckpt").string());
  EXPECT_EQ(import.code, 1);
  EXPECT_NE(import.out.find("is a dmgn checkpoint (train, step 1)"), std::string::npos) << import.out;
  const auto same = dmgn_shell("score " + (dir / "bench/input/a.png").string() + " " +
                               (dir / "bench/input/a.png").string());
  EXPECT_EQ(same.code, 0) << same.out;
  EXPECT_NE(same.out.find("identical: PSNR capped"), std::string::npos) << same.out;
  EXPECT_NE(same.out.find("reported as 100 dB"), std::string::npos) << same.out;
  // An input without ground truth under on_bad_sample = "fail": data check lists it and does not
  // claim it was left out by the skip policy.
  save_png(dir / "bench/input/lonely.png", 24, 20, 0.4);
  const auto check = dmgn_shell("data check " + std::string(DMGN_SOURCE_DIR) + "/experiments/base.toml --set " +
                                "'datasets.mine.root=\"" + (dir / "bench").string() + "\"' --dataset mine");
  EXPECT_EQ(check.out.find("data.on_bad_sample = \"skip\")"), std::string::npos) << check.out;
  EXPECT_NE(check.out.find("lonely"), std::string::npos) << check.out;
}

}  // namespace
