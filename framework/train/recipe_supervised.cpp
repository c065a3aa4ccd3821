// The "supervised" recipe: one network, one Adam update per step on its loss terms of phase
// "generator" (optim.lr, optim.betas; optim.schedule), no critic. The training step of the
// baselines that learn from pairs alone: PReNet (negative SSIM), GCANet (MSE). A loss term naming
// a discriminator is refused: a critic needs a recipe that orders its update (dmgn, errnet, ...).
#include <fmt/format.h>

#include "core/error.h"
#include "train/critic_recipe.h"

namespace dmgn::train {
namespace {

class SupervisedRecipe : public CriticGeneratorRecipe {
 public:
  explicit SupervisedRecipe(const RecipeEnv& env) : CriticGeneratorRecipe(env, "supervised") {
    if (has_critic())
      throw ConfigError("the supervised recipe trains no critic, but a loss term names a discriminator: choose a "
                        "recipe with a critic update (train.recipe = dmgn, errnet, ...) or drop the term");
  }

 protected:
  void run(Frame& f) override { update_generator(f, generate(f), {"generator"}); }
};

}  // namespace

void register_supervised_recipe() {
  recipes().add("supervised",
                "One network, one Adam update of its phase-\"generator\" loss terms per step, no critic (PReNet, "
                "GCANet)",
                [](const RecipeEnv& env) -> RecipePtr { return std::make_unique<SupervisedRecipe>(env); });
}

}  // namespace dmgn::train
