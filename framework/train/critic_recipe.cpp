#include "train/critic_recipe.h"

#include <fmt/format.h>

#include <map>

#include "core/dtype.h"
#include "core/error.h"

namespace dmgn::train {

CriticGeneratorRecipe::CriticGeneratorRecipe(const RecipeEnv& env, const std::string& recipe) : Recipe(env) {
  const Config& c = cfg();
  model_ = models::build_model(c);
  terms_ = std::make_unique<losses::TermSet>(c, *model_);
  const auto names = terms_->discriminators();
  if (names.size() > 1)
    throw ConfigError(fmt::format("the {} recipe trains one discriminator; the loss terms name {}", recipe, names.size()));
  if (!names.empty()) {
    critic_name_ = names.front();
    critic_ = nn::discriminators().make(c.get_string("discriminator.name"), c.sub("discriminator"));
  }
  add_module("model", model_);
  if (critic_) add_module(critic_name_, critic_);
  split_rng_streams();
  const auto betas = c.get_floats("optim.betas");
  if (betas.size() != 2) throw ConfigError("config key 'optim.betas' needs two values");
  add_adam("opt_g", model_->parameters(), c.get_float("optim.lr"), {betas[0], betas[1]});
  if (critic_) add_adam("opt_d", critic_->parameters(), c.get_float("optim.d_lr"), {betas[0], betas[1]});
}

models::Outputs CriticGeneratorRecipe::generate(Frame& f) {
  auto out = f.forward([&] { return model_->forward(f.batch().at("input")); });
  f.note_outputs(out);
  return out;
}

void CriticGeneratorRecipe::update_critic(Frame& f, const models::Outputs& out, const std::string& bad_name) {
  if (!critic_) return;
  losses::TermValues critic;
  critic.total = f.forward([&] { return terms_->critic(critic_name_, out, f.batch(), *critic_); });
  if (!critic.total.defined()) return;  // its (optional) terms do not apply to this batch
  critic.total = at_least_fp32(critic.total);
  if (f.update("opt_d", critic, "d_loss", bad_name)) terms_->after_critic_step(critic_name_, *critic_);
}

void CriticGeneratorRecipe::update_generator(Frame& f, const models::Outputs& out,
                                             const std::vector<std::string>& phases) {
  losses::TermValues g;
  {
    std::vector<torch::nn::Module*> frozen_modules;
    std::map<std::string, nn::Discriminator*> by_name;  // as the terms look the critic up
    if (critic_) {
      frozen_modules.push_back(critic_.get());
      by_name[critic_name_] = critic_.get();
    }
    const FrozenParameters frozen(frozen_modules);
    for (const auto& phase : phases) {
      const auto tv = f.forward([&] { return terms_->evaluate(phase, out, f.batch(), by_name); });
      if (!g.total.defined()) {
        g = tv;
        continue;
      }
      for (const auto& [name, value] : tv.terms) g.add(name, value);
    }
  }
  f.update("opt_g", g, "loss");
}

}  // namespace dmgn::train
