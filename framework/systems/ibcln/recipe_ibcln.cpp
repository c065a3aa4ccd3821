// The "ibcln" recipe: IBCLNModel.optimize_parameters (JHL-HUST/IBCLN) on the shared frame of
// train/critic_recipe.h: the generators first (G_T and G_R together, one Adam "opt_g": the loss
// terms of phase "generator", the LSGAN term among them, the critic frozen), then the critic
// ("opt_d", 0.5 [MSE(D(T), 1) + MSE(D(T_N), 0)] on the same, detached, T_N). The reference's
// clip_grad_norm_(0.25) runs once in its constructor, before any gradient exists, so it never
// clips: not reproduced.
#include "train/critic_recipe.h"

namespace dmgn::train {
namespace {

class IbclnRecipe : public CriticGeneratorRecipe {
 public:
  explicit IbclnRecipe(const RecipeEnv& env) : CriticGeneratorRecipe(env, "ibcln") {}

 protected:
  void run(Frame& f) override {
    const auto out = generate(f);
    update_generator(f, out, {"generator"});
    update_critic(f, out, "LSGAN critic");
  }
};

}  // namespace

void register_ibcln_recipe() {
  recipes().add("ibcln",
                "IBCLN's step (IBCLN_model.py): G_T and G_R with their terms and the LSGAN term, then the "
                "critic on the same output",
                [](const RecipeEnv& env) -> RecipePtr { return std::make_unique<IbclnRecipe>(env); });
}

}  // namespace dmgn::train
