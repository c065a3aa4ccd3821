// The training seam (train/recipe.h): a recipe defined outside the trainer trains, checkpoints
// its own named parts and resumes through run_training with no other code.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "core/config.h"
#include "data/loader.h"
#include "losses/terms.h"
#include "models/model.h"
#include "test_util.h"
#include "train/builtins.h"
#include "train/checkpoint.h"
#include "train/recipe.h"
#include "train/trainer.h"

namespace {

using dmgn::Config;
namespace tr = dmgn::train;

// The generator terms alone, one optimizer named "adam" (no critic).
class PlainRecipe : public tr::Recipe {
 public:
  explicit PlainRecipe(const tr::RecipeEnv& env) : Recipe(env) {
    model_ = dmgn::models::build_model(cfg());
    terms_ = std::make_unique<dmgn::losses::TermSet>(cfg(), *model_);
    add_module("model", model_);
    split_rng_streams();
    add_adam("adam", model_->parameters(), cfg().get_float("optim.lr"), {0.9, 0.999});
  }
  dmgn::models::Model& model() override { return *model_; }

 protected:
  void run(Frame& f) override {
    const auto out = f.forward([&] { return model_->forward(f.batch().at("input")); });
    f.note_outputs(out);
    const auto tv = f.forward([&] { return terms_->evaluate("generator", out, f.batch(), {}); });
    f.update("adam", tv, "loss");
  }

 private:
  dmgn::models::ModelPtr model_;
  std::unique_ptr<dmgn::losses::TermSet> terms_;
};

TEST(Recipe, ANewRecipeTrainsCheckpointsItsPartsAndResumes) {
  dmgn::register_builtins();
  tr::recipes().add("test_plain", "test: generator terms, one Adam",
                    [](const tr::RecipeEnv& env) -> tr::RecipePtr { return std::make_unique<PlainRecipe>(env); });
  const auto dir = dmgn::testing::scratch("recipe_plain");
  // The dmgn recipe's [discriminator] is not part of a config that does not select that recipe.
  std::vector<std::string> o;
  for (const auto& s : dmgn::testing::tiny_run(dir))
    if (s.rfind("discriminator.", 0) != 0) o.push_back(s);
  EXPECT_NE(dmgn::testing::error_of<dmgn::ConfigError>(
                [] { Config::defaults({"train.recipe=\"test_plain\"", "discriminator.ndf=4"}); })
                .find("belongs to recipe 'dmgn'"),
            std::string::npos);
  for (const char* s : {"train.recipe=\"test_plain\"", "loss.terms.adv_r.weight=0", "train.max_steps=4",
                        "train.checkpoint_every=2", "train.keep_checkpoints=5"})
    o.push_back(s);
  const Config cfg = Config::defaults(o);
  const auto s = tr::run_training(cfg);
  EXPECT_EQ(s.steps, 4);
  const auto ckpt = tr::checkpoint_path(s.run_dir / "checkpoints", 2);
  // Its parts by its names: "model" and "adam" (no discriminator, no opt_g / opt_d).
  auto model = dmgn::models::build_model(cfg);
  std::vector<torch::Tensor> trainable;
  for (const auto& p : model->parameters())
    if (p.requires_grad()) trainable.push_back(p);
  torch::optim::Adam adam(trainable, torch::optim::AdamOptions(1e-3));
  torch::optim::Adam wrong({trainable[0]}, torch::optim::AdamOptions(1e-3));
  const auto mismatch = dmgn::testing::error_of<dmgn::DataError>(
      [&] { tr::load_checkpoint(ckpt, {{{"model", model.get()}}, {{"adam", &wrong}}}); });
  EXPECT_NE(mismatch.find("optimizer 'adam'"), std::string::npos) << mismatch;
  EXPECT_NO_THROW(tr::load_checkpoint(ckpt, {{{"model", model.get()}}, {{"adam", &adam}}}));
  const auto missing = dmgn::testing::error_of<dmgn::DataError>(
      [&] { tr::load_checkpoint(ckpt, {{{"model", model.get()}}, {{"opt_g", &adam}}}); });
  EXPECT_NE(missing.find("opt_g"), std::string::npos) << missing;
  // Reserved or repeated part names are refused when writing.
  tr::CheckpointMeta meta;
  EXPECT_THROW(tr::save_checkpoint(dir / "bad.ckpt", meta, {{{"step", model.get()}}, {}}), dmgn::Error);
  EXPECT_THROW(tr::save_checkpoint(dir / "bad.ckpt", meta, {{{"model", model.get()}, {"model", model.get()}}, {}}),
               dmgn::Error);
  // Resume: a fresh recipe takes the checkpoint's parts and steps on from there.
  const auto coll = tr::make_collective(tr::DistEnv{}, tr::CollectiveOptions{});
  const auto again = tr::build_recipe({cfg, coll, torch::kCPU, 4});
  const auto meta2 = tr::load_checkpoint(ckpt, again->parts());
  EXPECT_EQ(meta2.step, 2);
  auto train_set = tr::open_for_model(cfg, cfg.get_string("data.train"), dmgn::data::Split::train);
  dmgn::data::Loader loader(train_set, tr::train_loader_options(cfg, *coll));
  loader.set_position(static_cast<uint64_t>(meta2.epoch), meta2.batch_in_epoch);
  const auto r = again->step(loader.next_rolling(), meta2.step);
  EXPECT_FALSE(r.skipped);
  EXPECT_TRUE(std::isfinite(r.loss));
  EXPECT_TRUE(r.others.empty());  // no critic
}

}  // namespace
