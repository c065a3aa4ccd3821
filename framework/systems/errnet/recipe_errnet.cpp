// The "errnet" recipe: errnet_model.py's optimize_parameters (Vandermode/ERRNet) on the shared
// frame of train/recipe.h:
//   1. G forward on this rank's batch;
//   2. from step errnet.gan_start_step on: the critic update (its adversarial term's critic,
//      RaSGAN by default) on the detached output, optimizer "opt_d";
//   3. the generator update: the loss terms of phase "generator" (pixel, gradient, VGG), plus
//      those of phase "adversarial" (the RaSGAN term) from errnet.gan_start_step on, the critic
//      frozen, optimizer "opt_g".
// train_errnet.py trains without the GAN term for its first 20 of 60 epochs (lambda_gan = 0:
// neither backward_D nor the G_GAN term runs) and adds it after; gan_start_step is that step.
// Modules: "model" and, with an adversarial term, its discriminator ([discriminator]); Adam
// optim.lr / optim.d_lr with optim.betas.
#include "train/critic_recipe.h"

namespace dmgn::train {
namespace {

class ErrnetRecipe : public CriticGeneratorRecipe {
 public:
  explicit ErrnetRecipe(const RecipeEnv& env)
      : CriticGeneratorRecipe(env, "errnet"), gan_start_(cfg().get_int("errnet.gan_start_step")) {}

 protected:
  void run(Frame& f) override {
    const auto out = generate(f);
    if (f.step() < gan_start_) return update_generator(f, out, {"generator"});
    update_critic(f, out, "RaSGAN critic");
    update_generator(f, out, {"generator", "adversarial"});
  }

 private:
  int64_t gan_start_;
};

}  // namespace

void register_errnet_recipe() {
  recipes().add("errnet",
                "ERRNet's step (errnet_model.py): from errnet.gan_start_step, its critic, then the generator with "
                "the adversarial term; before, the generator alone",
                [](const RecipeEnv& env) -> RecipePtr { return std::make_unique<ErrnetRecipe>(env); });
}

}  // namespace dmgn::train
