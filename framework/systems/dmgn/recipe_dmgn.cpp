// The "dmgn" recipe: DMGN's step (Sec. III-D) on the shared frame of train/recipe.h.
//   1. G forward on this rank's batch;
//   2. for each discriminator an adversarial term names (DMGN: one, "discriminator"), a critic
//      update (Eq. 14) on the detached outputs, optimizer "opt_d", then its Lipschitz constraint;
//   3. the generator update with the loss terms of phase "generator" (Eq. 15-17 by default),
//      discriminators frozen, optimizer "opt_g".
// Modules: "model" and, with an adversarial term, "discriminator" ([discriminator]); Adam
// optim.lr / optim.d_lr with optim.betas for both.
#include "train/critic_recipe.h"

namespace dmgn::train {

namespace {

class DmgnRecipe : public CriticGeneratorRecipe {
 public:
  explicit DmgnRecipe(const RecipeEnv& env) : CriticGeneratorRecipe(env, "dmgn") {}

 protected:
  void run(Frame& f) override {
    const auto out = generate(f);
    update_critic(f, out, "discriminator critic (Eq. 14)");
    update_generator(f, out, {"generator"});
  }
};

}  // namespace

void register_dmgn_recipe() {
  recipes().add("dmgn", "DMGN's step: critic update(s) (Eq. 14), then the generator (Eq. 15-17)",
                [](const RecipeEnv& env) -> RecipePtr { return std::make_unique<DmgnRecipe>(env); });
}

}  // namespace dmgn::train
