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
#include <fmt/format.h>

#include "core/dtype.h"
#include "core/error.h"
#include "nn/discriminators.h"
#include "train/recipe.h"

namespace dmgn::train {
namespace {

class ErrnetRecipe : public Recipe {
 public:
  explicit ErrnetRecipe(const RecipeEnv& env) : Recipe(env) {
    const Config& c = cfg();
    model_ = models::build_model(c);
    terms_ = std::make_unique<losses::TermSet>(c, *model_);
    const auto names = terms_->discriminators();
    if (names.size() > 1)
      throw ConfigError(fmt::format("the errnet recipe trains one discriminator; the loss terms name {}", names.size()));
    add_module("model", model_);
    if (!names.empty()) {
      critic_name_ = names.front();
      critic_ = nn::discriminators().make(c.get_string("discriminator.name"), c.sub("discriminator"));
      add_module(critic_name_, critic_);
    }
    split_rng_streams();
    const auto betas = c.get_floats("optim.betas");
    if (betas.size() != 2) throw ConfigError("config key 'optim.betas' needs two values");
    add_adam("opt_g", model_->parameters(), c.get_float("optim.lr"), {betas[0], betas[1]});
    if (critic_) add_adam("opt_d", critic_->parameters(), c.get_float("optim.d_lr"), {betas[0], betas[1]});
    gan_start_ = c.get_int("errnet.gan_start_step");
  }

  models::Model& model() override { return *model_; }

 protected:
  void run(Frame& f) override {
    const auto out = f.forward([&] { return model_->forward(f.batch().at("input")); });
    f.note_outputs(out);
    const bool gan = critic_ && f.step() >= gan_start_;
    if (gan) {
      losses::TermValues critic;
      critic.total = f.forward([&] { return terms_->critic(critic_name_, out, f.batch(), *critic_); });
      if (critic.total.defined()) {
        critic.total = at_least_fp32(critic.total);
        if (f.update("opt_d", critic, "d_loss", "RaSGAN critic")) terms_->after_critic_step(critic_name_, *critic_);
      }
    }
    losses::TermValues g;
    {
      std::vector<torch::nn::Module*> frozen_modules;
      if (critic_) frozen_modules.push_back(critic_.get());
      const FrozenParameters frozen(frozen_modules);
      std::map<std::string, nn::Discriminator*> by_name;
      if (critic_) by_name[critic_name_] = critic_.get();
      g = f.forward([&] { return terms_->evaluate("generator", out, f.batch(), by_name); });
      if (gan) {
        const auto adv = f.forward([&] { return terms_->evaluate("adversarial", out, f.batch(), by_name); });
        for (const auto& [name, value] : adv.terms) g.add(name, value);
      }
    }
    f.update("opt_g", g, "loss");
  }

 private:
  models::ModelPtr model_;
  std::unique_ptr<losses::TermSet> terms_;
  std::string critic_name_;
  nn::DiscriminatorPtr critic_;
  int64_t gan_start_ = 0;
};

}  // namespace

void register_errnet_recipe() {
  recipes().add("errnet",
                "ERRNet's step (errnet_model.py): from errnet.gan_start_step, its critic, then the generator with "
                "the adversarial term; before, the generator alone",
                [](const RecipeEnv& env) -> RecipePtr { return std::make_unique<ErrnetRecipe>(env); });
}

}  // namespace dmgn::train
