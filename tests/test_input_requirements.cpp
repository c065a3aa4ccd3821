// Every registered model declares its real smallest input (issue 31): models::input_requirement
// (the model alone; evaluation pads each image to its size multiple) and
// losses::training_requirement (one training step: the model, its loss terms and its critic, on
// crops that are not padded). For every model in the registry, so that a new one is covered
// without a line here, with its schema defaults and every experiment config that changes what
// its rules compute (cases_by_model), at tiny channel counts (MBN's are fixed: it takes most of
// the test's minute):
//   - at the declared side the model runs forward and backward, evaluation runs at min x
//     (min + 1) and (min + 1) x (min + 2), and a training step runs at the training side (a
//     side or crop a little above runs or is refused as not a multiple the model takes);
//   - a side below is refused by the dataset (naming the sample) and a crop below by the crop
//     check (naming the config key), never inside torch;
//   - one multiple below the declared side fails for real: the declared side is the smallest,
//     not a safe overestimate.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "core/config.h"
#include "core/error.h"
#include "data/benchmarks.h"
#include "data/dataset.h"
#include "losses/terms.h"
#include "models/model.h"
#include "models/system_info.h"
#include "models/task_routed.h"
#include "test_util.h"
#include "train/builtins.h"
#include "train/distributed.h"
#include "train/evaluate.h"
#include "train/recipe.h"
#include "train/trainer.h"

namespace fs = std::filesystem;
using dmgn::Config;
namespace tr = dmgn::train;
namespace data = dmgn::data;
namespace models = dmgn::models;

namespace {

// Each system's channel counts shrunk with every input of its rules kept (levels, dilations,
// VGG taps, MLSM scales, residual blocks or none, design, stages, the critic's depth): what the
// system registered (models/system_info.h SystemInfo::small); one that registered none runs at
// its own size.
std::vector<std::string> tiny(const Config& c) {
  std::vector<std::string> v{"runtime.threads=2", "data.workers=0", "train.batch_size=2", "runtime.progress=false"};
  if (c.has("discriminator.ndf")) v.push_back("discriminator.ndf=4");
  for (const auto& s : models::system_small_overrides(c)) v.push_back(s);
  return v;
}

std::string text_at(const Config& c, const std::string& key) {
  if (!c.has(key)) return "-";
  std::ostringstream os;
  os << c.root().at_path(key);
  return os.str();
}

struct Case {
  std::string source;
  Config cfg;                 // shrunk
  std::string train_sig;      // the training requirement, recipe and task
  bool model_checks = false;  // the first config of its model requirement
  bool train_checks = false;  // the first trainable config of its training signature
};

std::string describe(const models::InputRequirement& r) {
  std::string s = fmt::format("{} ({}) x{} ({})", r.min_side, r.why, r.multiple, r.multiple_why);
  for (const auto& [key, f] : r.downscale) s += fmt::format(" {}:1/{}", key, f);
  return s;
}

// Per registered model, the configs to check: its schema defaults (with the recipe of its name,
// when one is registered) and every experiment config selecting it, at tiny channel counts. The
// model checks run once per distinct model requirement (what its rule makes of the config: side,
// multiple, why), the training checks once per distinct training requirement, recipe and task,
// on experiment configs (on the defaults of a model that has none).
std::map<std::string, std::vector<Case>> cases_by_model() {
  dmgn::register_builtins();
  std::vector<std::pair<std::string, std::function<Config(std::vector<std::string>)>>> sources;
  for (const auto& name : models::models().names())
    sources.emplace_back("defaults of '" + name + "'", [name](std::vector<std::string> sets) {
      sets.insert(sets.begin(), "model.name=\"" + name + "\"");
      if (tr::recipes().contains(name)) sets.insert(sets.begin() + 1, "train.recipe=\"" + name + "\"");
      return Config::defaults(sets);
    });
  std::vector<fs::path> files;
  for (const auto& e : fs::recursive_directory_iterator(fs::path(DMGN_SOURCE_DIR) / "experiments"))
    if (e.is_regular_file() && e.path().extension() == ".toml") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const auto& f : files)
    sources.emplace_back(fs::relative(f, DMGN_SOURCE_DIR).string(),
                         [f](const std::vector<std::string>& sets) { return Config::load(f, sets); });
  std::vector<Case> all;
  std::set<std::string> model_seen, train_seen, with_experiments;
  std::map<std::string, models::ModelSpec> specs;  // by model table (the spec follows from it)
  for (const auto& [source, load] : sources) {
    std::optional<Config> base;
    try {
      base = load({});
    } catch (const dmgn::ConfigError&) {
      continue;  // a mixin (e.g. small.toml), not a config on its own
    }
    const auto name = base->get_string("model.name");
    if (!models::models().contains(name)) continue;
    const Config cfg = load(tiny(*base));
    const bool experiment = source.rfind("defaults", 0) != 0;
    if (experiment) with_experiments.insert(name);
    const std::string model_sig = name + " " + describe(models::input_requirement(cfg));
    const std::string table = name + text_at(cfg, "model");
    if (!specs.count(table)) specs.emplace(table, models::build_model(cfg)->spec());
    const auto treq = dmgn::losses::training_requirement(cfg, dmgn::losses::plan_terms(cfg, specs.at(table)));
    Case c{source, cfg, model_sig + " " + describe(treq) + " " + cfg.get_string("train.recipe") + " " + cfg.get_string("task.name")};
    c.model_checks = model_seen.insert(model_sig).second;
    c.train_checks = experiment && train_seen.insert(c.train_sig).second;
    all.push_back(std::move(c));
  }
  std::map<std::string, std::vector<Case>> out;
  for (auto& c : all) {
    const auto name = c.cfg.get_string("model.name");
    if (!with_experiments.count(name) && c.source.rfind("defaults", 0) == 0) c.train_checks = train_seen.insert(c.train_sig).second;
    if (c.model_checks || c.train_checks) out[name].push_back(c);
  }
  return out;
}

// The tasks whose paths a model takes: every routed task (one for a model whose tasks share one
// path), or "" for a model that is not routed.
std::vector<std::string> paths(models::Model& m) {
  auto* routed = dynamic_cast<models::TaskRouted*>(&m);
  if (!routed) return {""};
  auto tasks = routed->routed_tasks();
  if (routed->one_path()) tasks.resize(1);
  return tasks;
}

// Forward and backward on an unpadded 1 x 3 x h x w input, on every path a routed model takes:
// "" when it ran and the primary output has the input's size, else what went wrong.
std::string forward_backward(models::Model& m, int64_t h, int64_t w) {
  try {
    auto* routed = dynamic_cast<models::TaskRouted*>(&m);
    for (const auto& t : paths(m)) {
      if (routed) routed->route(t);
      const auto out = m.forward(m.to_model(torch::rand({1, 3, h, w})));
      torch::Tensor total = torch::zeros({});
      for (const auto& [k, v] : out.flat()) total = total + v.to(torch::kFloat).mean();
      total.backward();
      const auto& y = out.at(m.spec().primary);
      if (y.size(2) != h || y.size(3) != w)
        return fmt::format("path '{}': a {}x{} input gave a {}x{} output", t, w, h, y.size(3), y.size(2));
    }
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

// Evaluation's path (train::run_sample: padded to the size multiple, cropped back) on an h x w
// image, for every task a routed model takes.
std::string evaluate(models::Model& m, int64_t h, int64_t w) {
  try {
    torch::NoGradGuard no_grad;
    for (const auto& t : paths(m)) {
      const data::Sample s(torch::rand({3, h, w}), torch::rand({3, h, w}), {}, "probe", t);
      const auto r = tr::run_sample(m, s, torch::kCPU);
      const auto b = r.image(m, m.spec().primary);
      if (b.size(2) != h || b.size(3) != w) return fmt::format("a {}x{} image came back {}x{}", w, h, b.size(3), b.size(2));
    }
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

// A dataset of one h x w sample, checked against the model as train::open_for_model does.
class SizedDataset : public data::Dataset {
 public:
  SizedDataset(int64_t h, int64_t w) : h_(h), w_(w) {}
  size_t size() const override { return 1; }
  std::string name() const override { return "sized"; }
  std::map<std::string, std::string> provenance() const override { return {}; }

 protected:
  data::Sample make(size_t, uint64_t) const override {
    return data::Sample(torch::rand({3, h_, w_}), torch::rand({3, h_, w_}), {}, fmt::format("probe_{}x{}", w_, h_));
  }

 private:
  int64_t h_, w_;
};

// The config with every training crop set to `s` (data.crop, and each part's of a multi-task
// set), trained on the built-in photos (no environment needed) resized near the crop.
Config with_crop(const Config& cfg, int64_t s) {
  Config c = cfg;
  const auto train = c.get_string("data.train");
  const std::string parts = "data." + train + ".crops";
  if (c.has(parts)) {
    std::string v;
    for (size_t i = 0; i < c.get_ints(parts).size(); ++i) v += fmt::format("{}{}", i ? ", " : "", s);
    c.set(parts + "=[" + v + "]");
  } else if (train != "builtin") {
    c.set("data.train=\"builtin\"");
  }
  c.set(fmt::format("data.crop={}", s));
  c.set("data.builtin.folders=[]");
  c.set("data.builtin.test_folders=[]");
  c.set("data.augment.short_side=[32, 32]");  // raised to the crop when smaller
  return c;
}

// The config's training recipe, built once and stepped at several crops: per step, one update
// per part of its training data (one per task of a multi-task set), one sample a batch at crop
// `s`, without the crop checks; step() throws what the update throws.
class Stepper {
 public:
  explicit Stepper(const Config& cfg) : cfg_(cfg) {
    torch::manual_seed(0);
    recipe_ = tr::build_recipe({with_crop(cfg, 32), coll_, torch::kCPU, 4});
    // Every VGG-19 a recipe's losses use names the config key of its weights: the run's
    // provenance and the warning of a run without weights say it, and the trainer names none.
    if (const auto vgg = recipe_->loss_vgg())
      EXPECT_TRUE(cfg.has(vgg->weights_key())) << cfg.get_string("model.name") << ": '" << vgg->weights_key() << "'";
  }
  void step(int64_t s) {
    const Config c = with_crop(cfg_, s);
    const auto ds = data::open_dataset(c, c.get_string("data.train"), data::Split::train);
    auto parts = ds->parts();
    if (parts.empty()) parts.push_back(ds);
    // A model whose tasks share one path (R-MBN) needs one of them.
    const auto* routed = dynamic_cast<const models::TaskRouted*>(&recipe_->model());
    if (routed && routed->one_path()) parts.resize(1);
    for (const auto& p : parts) {
      std::vector<data::Sample> v{p->get(0, 0)};
      const auto r = recipe_->step(data::collate(std::move(v)), step_++);
      if (!std::isfinite(r.loss)) throw std::runtime_error(fmt::format("a non-finite loss at crop {}", s));
    }
  }

 private:
  Config cfg_;
  tr::CollectivePtr coll_ = tr::make_collective(tr::DistEnv{}, tr::CollectiveOptions{});
  tr::RecipePtr recipe_;
  int64_t step_ = 0;
};

// The crop checks of a training run's start (the model, then its whole step); "" = accepted.
std::string crop_refused(const Config& cfg, const models::ModelSpec& spec, int64_t s) {
  try {
    const Config c = with_crop(cfg, s);
    tr::check_crop_fits_model(c);
    tr::check_crop_fits_training(c, spec);
  } catch (const dmgn::ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(InputRequirements, EveryModelTakesItsDeclaredSmallestInputAndRefusesASmallerOneByName) {
  const auto by_model = cases_by_model();
  ASSERT_EQ(by_model.size(), models::models().names().size()) << "a registered model has no case";
  for (const auto& [name, cases] : by_model) {
    // Loss terms are checked against the names a model kind registers: each declared output is one.
    EXPECT_FALSE(models::output_names(name).empty()) << name << " registers no output names";
    for (const auto& c : cases) {
      SCOPED_TRACE(c.source);
      const auto need = models::input_requirement(c.cfg);
      const int64_t min = need.min_side, mult = need.multiple;
      ASSERT_GE(mult, 1);
      ASSERT_EQ(min % mult, 0) << "the smallest side must itself be a multiple of " << mult;
      EXPECT_FALSE(need.why.empty());
      torch::manual_seed(0);
      auto model = models::build_model(c.cfg);
      for (const auto& d : model->spec().outputs)
        EXPECT_TRUE(models::can_output(name, d.key)) << name << " declares '" << d.key << "' but does not register it";
      // Evaluation pads to the spec's multiple: the requirement's must divide it.
      EXPECT_EQ(std::max<int64_t>(1, model->spec().size_multiple) % mult, 0);

      // A training-free method (the dark channel prior) has nothing to back-propagate into or train.
      const bool trains = !models::training_free(c.cfg);
      if (c.model_checks && trains) {
        // The model alone, unpadded (training's crops are square), at its smallest side.
        model->train();
        EXPECT_EQ(forward_backward(*model, min, min), "") << "at " << min;
        // A few sides above: they run, or the requirement refuses them (not a multiple).
        for (int64_t s = min + 1; s <= min + 3; ++s)
          if (need.refuses(s, s).empty()) EXPECT_EQ(forward_backward(*model, s, s), "") << "at " << s;
        // The declared side is the real one: one multiple less fails.
        if (min - mult >= 1) EXPECT_NE(forward_backward(*model, min - mult, min - mult), "") << "at " << min - mult;
      }
      if (c.model_checks) {

        // Evaluation (padded to the multiple; not square) at min x (min + 1) and one above.
        model->eval();
        for (int64_t s = min; s <= min + 1; ++s) EXPECT_EQ(evaluate(*model, s, s + 1), "") << "at " << s << "x" << s + 1;

        // A dataset opened for the model refuses a smaller sample by name, not inside torch.
        for (const auto& [h, w] : std::vector<std::pair<int64_t, int64_t>>{{min - 1, min}, {min, min - 1}}) {
          if (h < 1 || w < 1) continue;
          SizedDataset ds(h, w);
          ds.require_min_side(need.min_side, need.why);  // as train::open_for_model
          const auto err = dmgn::testing::error_of<dmgn::DataError>([&] { ds.get(0, 0); });
          EXPECT_NE(err.find(fmt::format("probe_{}x{}", w, h)), std::string::npos) << err;
          EXPECT_NE(err.find(fmt::format("smaller than the {0}x{0}", min)), std::string::npos) << err;
        }
        SizedDataset fits(min, min + 1);
        fits.require_min_side(need.min_side, need.why);
        EXPECT_NO_THROW(fits.get(0, 0));
      }

      // Training: crops are not padded, and the loss terms and critic see the outputs.
      if (!c.train_checks || !trains) continue;
      const auto& spec = model->spec();
      const auto treq = dmgn::losses::training_requirement(c.cfg, dmgn::losses::plan_terms(c.cfg, spec));
      const int64_t tmin = treq.min_side;
      ASSERT_GE(tmin, min);
      ASSERT_EQ(tmin % mult, 0);
      EXPECT_EQ(crop_refused(c.cfg, spec, tmin), "");
      Stepper stepper(c.cfg);
      EXPECT_NO_THROW(stepper.step(tmin)) << "training crop " << tmin << " (" << treq.why << ")";
      if (tmin > 1) {  // (a crop of 0 px is no size)
        const auto below = crop_refused(c.cfg, spec, tmin - 1);
        EXPECT_NE(below.find("config key 'data."), std::string::npos) << below;
        EXPECT_NE(below.find(fmt::format("= {} is ", tmin - 1)), std::string::npos) << below;
      }
      for (int64_t s = tmin + 1; s <= tmin + 3; ++s) {
        const auto refused = crop_refused(c.cfg, spec, s);
        if (refused.empty()) EXPECT_NO_THROW(stepper.step(s)) << "training crop " << s;
        else EXPECT_NE(refused.find(fmt::format("not a multiple of {}", mult)), std::string::npos) << refused;
      }
      // Last: a failed step leaves the recipe where it failed.
      if (tmin - mult >= 1) EXPECT_ANY_THROW(stepper.step(tmin - mult)) << "training crop " << tmin - mult;
    }
  }
}

// The sides found, per system (models/*.cpp explain them; the README quotes them).
TEST(InputRequirements, TheSystemsSmallestSides) {
  dmgn::register_builtins();
  const fs::path ex = fs::path(DMGN_SOURCE_DIR) / "experiments";
  const auto model_min = [](const Config& c) { return models::input_requirement(c).min_side; };
  const auto train_min = [](const Config& c) {
    auto m = models::build_model(c);
    return dmgn::losses::training_requirement(c, dmgn::losses::plan_terms(c, m->spec())).min_side;
  };
  // DMGN: G_refine's dilation 16 (17 px); training adds the 3-layer PatchGAN critic (24 px).
  const Config dmgn_cfg = Config::load(ex / "table1/dmgn.toml", tiny(Config::load(ex / "table1/dmgn.toml")));
  EXPECT_EQ(model_min(dmgn_cfg), 17);
  EXPECT_EQ(train_min(dmgn_cfg), 24);
  // "Coarse" has no refine phase and no critic term: VGG-19's 4 poolings before relu5_1.
  const Config coarse = Config::load(ex / "table1/coarse.toml", tiny(Config::load(ex / "table1/coarse.toml")));
  EXPECT_EQ(model_min(coarse), 16);
  EXPECT_EQ(train_min(coarse), 16);
  // Location-aware SIRR: multiples of 8; its perceptual loss on the 1/4 frame reaches VGG-19's
  // 4th pooling: 64 px to train (the 16, 24 and 32 px crops are refused at start).
  const Config sirr = Config::load(ex / "location_sirr/base.toml", tiny(Config::load(ex / "location_sirr/base.toml")));
  EXPECT_EQ(model_min(sirr), 8);
  EXPECT_EQ(models::input_requirement(sirr).multiple, 8);
  EXPECT_EQ(train_min(sirr), 64);
  const auto wo_p = Config::load(ex / "location_sirr/wo_perceptual.toml", tiny(sirr));
  EXPECT_EQ(train_min(wo_p), 24);  // the critic alone
  for (const int64_t crop : {16, 24, 32}) {
    Config c = sirr;
    c.set(fmt::format("data.crop={}", crop));
    auto m = models::build_model(c);
    const auto err = dmgn::testing::error_of<dmgn::ConfigError>([&] { tr::check_crop_fits_training(c, m->spec()); });
    EXPECT_NE(err.find(fmt::format("config key 'data.crop' = {} is smaller than the 64x64", crop)), std::string::npos)
        << err;
    EXPECT_NE(err.find("p_quarter"), std::string::npos) << err;
  }
  // Physics-GAN: multiples of 4, 8 px with residual blocks; its two critics need 24 to train.
  const Config pgan = Config::load(ex / "physics_gan/base.toml", tiny(Config::load(ex / "physics_gan/base.toml")));
  EXPECT_EQ(model_min(pgan), 8);
  EXPECT_EQ(train_min(pgan), 24);
  // MBN: 64 where a blur / JPEG path runs, 16 for the minimal design.
  EXPECT_EQ(model_min(Config::load(ex / "mbn/base.toml")), 64);
  EXPECT_EQ(model_min(Config::load(ex / "mbn/table1/mbn.toml")), 16);
  EXPECT_EQ(model_min(Config::load(ex / "mbn/rmbn.toml", {"model.order=[\"haze\", \"rain\"]"})), 16);
}

}  // namespace
