// The "dmgn" recipe: DMGN's step (Sec. III-D) on the shared frame of train/recipe.h.
//   1. G forward on this rank's batch;
//   2. for each discriminator an adversarial term names (DMGN: one, "discriminator"), a critic
//      update (Eq. 14) on the detached outputs, optimizer "opt_d", then its Lipschitz constraint;
//   3. the generator update with the loss terms of phase "generator" (Eq. 15-17 by default),
//      discriminators frozen, optimizer "opt_g".
// Modules: "model" and, with an adversarial term, "discriminator" ([discriminator]); Adam
// optim.lr / optim.d_lr with optim.betas for both.
#include <fmt/format.h>

#include "core/dtype.h"
#include "core/error.h"
#include "nn/discriminators.h"
#include "train/recipe.h"

namespace dmgn::train {

namespace {

constexpr const char* kCriticTerm = "discriminator critic (Eq. 14)";

class DmgnRecipe : public Recipe {
 public:
  explicit DmgnRecipe(const RecipeEnv& env) : Recipe(env) {
    const Config& c = cfg();
    model_ = models::build_model(c);
    terms_ = std::make_unique<losses::TermSet>(c, *model_);
    const auto names = terms_->discriminators();
    if (names.size() > 1)
      throw ConfigError(fmt::format("the dmgn recipe trains one discriminator; the loss terms name {}", names.size()));
    for (const auto& n : names) discs_.emplace_back(n, nn::discriminators().make(c.get_string("discriminator.name"),
                                                                                  c.sub("discriminator")));
    add_module("model", model_);
    for (const auto& [n, d] : discs_) add_module(n, d);
    split_rng_streams();
    const auto betas = c.get_floats("optim.betas");
    if (betas.size() != 2) throw ConfigError("config key 'optim.betas' needs two values");
    add_adam("opt_g", model_->parameters(), c.get_float("optim.lr"), {betas[0], betas[1]});
    for (const auto& [n, d] : discs_) {
      add_adam("opt_d", d->parameters(), c.get_float("optim.d_lr"), {betas[0], betas[1]});
      by_name_[n] = d.get();
      all_.push_back(d.get());
    }
  }

  models::Model& model() override { return *model_; }

 protected:
  void run(Frame& f) override {
    const auto out = f.forward([&] { return model_->forward(f.batch().at("input")); });
    f.note_outputs(out);
    for (const auto& entry : discs_) {
      const auto& n = entry.first;
      const auto& d = entry.second;
      losses::TermValues critic;
      critic.total = f.forward([&] { return terms_->critic(n, out, f.batch(), *d); });
      if (!critic.total.defined()) continue;  // its (optional) terms do not apply to this batch
      critic.total = at_least_fp32(critic.total);
      if (f.update("opt_d", critic, "d_loss", kCriticTerm)) terms_->after_critic_step(n, *d);
    }
    losses::TermValues g;
    {
      const FrozenParameters frozen(all_);
      g = f.forward([&] { return terms_->evaluate("generator", out, f.batch(), by_name_); });
    }
    f.update("opt_g", g, "loss");
  }

 private:
  models::ModelPtr model_;
  std::unique_ptr<losses::TermSet> terms_;
  std::vector<std::pair<std::string, nn::DiscriminatorPtr>> discs_;
  std::map<std::string, nn::Discriminator*> by_name_;  // the same, as the terms look them up
  std::vector<torch::nn::Module*> all_;  // the discriminators, frozen for the generator
};

}  // namespace

void register_dmgn_recipe() {
  recipes().add("dmgn", "DMGN's step: critic update(s) (Eq. 14), then the generator (Eq. 15-17)",
                [](const RecipeEnv& env) -> RecipePtr { return std::make_unique<DmgnRecipe>(env); });
}

}  // namespace dmgn::train
