// The recipe of a training-free method (models::SystemInfo::training_free, e.g. the dark channel
// prior): the model as built, module "model", with no optimizer. build_recipe gives it to such a
// model whatever train.recipe says; the trainer then runs 0 steps, and a step asked of it (e.g.
// by `dmgn bench train`) is an error naming the model.
#include <fmt/format.h>

#include "core/error.h"
#include "models/system_info.h"
#include "train/recipe.h"

namespace dmgn::train {
namespace {

class FixedRecipe : public Recipe {
 public:
  explicit FixedRecipe(const RecipeEnv& env) : Recipe(env), model_(models::build_model(env.cfg)) {
    add_module("model", model_);
  }
  models::Model& model() override { return *model_; }

 protected:
  void run(Frame&) override {
    throw ConfigError(fmt::format("model '{}' is training-free: it has nothing to train (dmgn train evaluates it "
                                  "as built; dmgn eval --config scores it)",
                                  cfg().get_string("model.name")));
  }

 private:
  models::ModelPtr model_;
};

}  // namespace

RecipePtr build_recipe(const RecipeEnv& env) {
  if (models::training_free(env.cfg)) return std::make_unique<FixedRecipe>(env);
  return recipes().make(env.cfg.get_string("train.recipe"), env);
}

}  // namespace dmgn::train
