#pragma once
// A recipe of one generator and at most one critic: the model, its loss terms, the critic their
// adversarial term names ([discriminator]) and the Adam optimisers "opt_g" / "opt_d" (optim.lr,
// optim.d_lr, optim.betas), built in that order; the two updates as steps a subclass orders.
// DMGN's recipe (critic, then generator) and ERRNet's (the same after a GAN warm-up) are two
// orderings of these.
#include <memory>
#include <string>
#include <vector>

#include "nn/discriminators.h"
#include "train/recipe.h"

namespace dmgn::train {

class CriticGeneratorRecipe : public Recipe {
 public:
  // `recipe` names the recipe in errors ("the dmgn recipe trains one discriminator").
  CriticGeneratorRecipe(const RecipeEnv& env, const std::string& recipe);
  models::Model& model() override { return *model_; }

 protected:
  bool has_critic() const { return critic_ != nullptr; }
  // The model on the batch's input, noted for the non-finite diagnosis.
  models::Outputs generate(Frame& f);
  // The critic's update (its adversarial terms' critic loss on the detached outputs), reported as
  // "d_loss" and named `bad_name` when non-finite, then its constraint (weight clipping); nothing
  // without a critic or when its (optional) terms do not apply to this batch.
  void update_critic(Frame& f, const models::Outputs& out, const std::string& bad_name);
  // The generator's update, "loss": the loss terms of `phases`, in that order, the critic frozen.
  void update_generator(Frame& f, const models::Outputs& out, const std::vector<std::string>& phases);

 private:
  models::ModelPtr model_;
  std::unique_ptr<losses::TermSet> terms_;
  std::string critic_name_;
  nn::DiscriminatorPtr critic_;
};

// Registers "supervised" (train/recipe_supervised.cpp): this frame without a critic, the
// generator's update alone (register_builtins).
void register_supervised_recipe();

}  // namespace dmgn::train
