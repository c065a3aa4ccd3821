// The "physics_gan" recipe: Physics-GAN's step (Pan et al., TPAMI 2020, Sec. 4; the reference
// code's optimize_parameters: G, then D_g, then D_h):
//   1. G(y) on this rank's batch; y~ = H(G(y)) with the physics operator (physics_gan.operator,
//      losses/physics.h) and the sample's parameters; G(y~). Outputs "background", "physics",
//      "physics_restored" (y~ and G(y~) only when a term needs them).
//   2. the generator update (optimizer "opt_g") with every term of phase "generator", both
//      discriminators frozen: Eq. 12's L_a (LSGAN on D_g(G(y)) and D_h(y~)) + lambda L_g
//      + gamma L_p + mu L_g~ (the model schema's terms adv_g, adv_h, content, physics, cycle);
//   3. D_g's update ("opt_dg") on x against G(y) drawn through its image pool;
//   4. D_h's update ("opt_dh") on y against y~ drawn through its own pool.
// A discriminator no active term names is not built (BaseGAN: no D_h). Modules "model", "d_g",
// "d_h", and the rank-local pools "pool_g", "pool_h" (train/image_pool.h, in checkpoints).
// Adam optim.lr / optim.d_lr with optim.betas for all three.
#include <fmt/format.h>

#include "core/dtype.h"
#include "core/error.h"
#include "losses/physics.h"
#include "systems/physics_gan/physics_gan.h"
#include "nn/discriminators.h"
#include "train/image_pool.h"
#include "train/recipe.h"

namespace dmgn::train {
namespace {

bool term_uses_output(const losses::TermSet& terms, const std::string& output) {
  for (const auto& s : terms.active())
    if (s.output == output) return true;
  return false;
}

class PhysicsGanRecipe : public Recipe {
 public:
  explicit PhysicsGanRecipe(const RecipeEnv& env) : Recipe(env) {
    const Config& c = cfg();
    model_ = models::build_model(c);
    gen_ = dynamic_cast<models::PhysicsGan*>(model_.get());
    if (!gen_)
      throw ConfigError(fmt::format("the physics_gan recipe trains model 'physics_gan', not '{}'",
                                    c.get_string("model.name")));
    terms_ = std::make_unique<losses::TermSet>(c, *model_, losses::LossContext{nullptr, model_->input_range()});
    need_physics_ = term_uses_output(*terms_, "physics") || term_uses_output(*terms_, "physics_restored");
    need_restored_ = term_uses_output(*terms_, "physics_restored");
    physics_ = losses::physics_operators().make(c.get_string("physics_gan.operator"), c, model_->input_range());
    if (need_physics_ && !physics_)
      throw ConfigError("physics_gan.operator = \"none\" (BaseGAN) leaves nothing for the loss terms on 'physics' / "
                        "'physics_restored': set their weights to 0");
    add_module("model", model_);
    const int64_t crop = c.get_int("data.crop");
    const int64_t pool = c.get_int("physics_gan.pool_size");
    for (const auto& name : terms_->discriminators()) {
      if (name != "d_g" && name != "d_h")
        throw ConfigError(fmt::format("the physics_gan recipe's discriminators are d_g and d_h; a loss term names '{}'",
                                      name));
      auto d = nn::discriminators().make(c.get_string("discriminator.name"), c.sub("discriminator"));
      add_module(name, d);
      discs_[name] = d.get();
      owned_[name] = d;
    }
    split_rng_streams();
    for (const auto& [name, d] : owned_) {
      if (pool > 0 && crop <= 0)
        throw ConfigError("physics_gan.pool_size > 0 needs fixed-size training crops (data.crop > 0)");
      auto p = ImagePool(pool, std::vector<int64_t>{3, crop, crop});
      add_module(name == "d_g" ? "pool_g" : "pool_h", p.ptr(), /*rank_local=*/true);
      pools_.emplace(name, p);
    }
    const auto betas = c.get_floats("optim.betas");
    if (betas.size() != 2) throw ConfigError("config key 'optim.betas' needs two values");
    add_adam("opt_g", model_->parameters(), c.get_float("optim.lr"), {betas[0], betas[1]});
    for (const auto& [name, d] : owned_)
      add_adam(name == "d_g" ? "opt_dg" : "opt_dh", d->parameters(), c.get_float("optim.d_lr"), {betas[0], betas[1]});
  }

  models::Model& model() override { return *model_; }

 protected:
  void run(Frame& f) override {
    const auto& batch = f.batch();
    const auto y = batch.at("input");
    auto out = f.forward([&] {
      models::Outputs o;
      const auto fake = gen_->generate(y);
      o.set("background", fake);
      if (need_physics_) {
        const auto y_tilde = physics_->apply(fake, batch);
        o.set("physics", y_tilde);
        if (need_restored_) o.set("physics_restored", gen_->generate(y_tilde));
      }
      return o;
    });
    f.note_outputs(out);
    std::vector<torch::nn::Module*> frozen;
    for (auto& [n, d] : discs_) frozen.push_back(d);
    losses::TermValues g;
    {
      const FrozenParameters scope(frozen);
      g = f.forward([&] { return terms_->evaluate("generator", out, batch, discs_); });
    }
    f.update("opt_g", g, "loss");
    // The discriminators on the pools' draws, in the reference's order (D_g, then D_h).
    for (const char* name : {"d_g", "d_h"}) {
      auto it = discs_.find(name);
      if (it == discs_.end()) continue;
      const std::string key = std::string(name) == "d_g" ? "background" : "physics";
      models::Outputs drawn;
      drawn.set(key, pools_.at(name)->query(out.at(key).detach()));
      losses::TermValues critic;
      critic.total = f.forward([&] { return terms_->critic(name, drawn, batch, *it->second); });
      if (!critic.total.defined()) continue;
      critic.total = at_least_fp32(critic.total);
      const std::string opt = std::string(name) == "d_g" ? "opt_dg" : "opt_dh";
      f.update(opt, critic, std::string(name) + "_loss", std::string("discriminator ") + name + " loss (LSGAN)");
      terms_->after_critic_step(name, *it->second);
    }
  }

 private:
  models::ModelPtr model_;
  models::PhysicsGan* gen_ = nullptr;
  std::unique_ptr<losses::TermSet> terms_;
  losses::PhysicsPtr physics_;
  bool need_physics_ = false, need_restored_ = false;
  std::map<std::string, nn::DiscriminatorPtr> owned_;
  std::map<std::string, nn::Discriminator*> discs_;
  std::map<std::string, ImagePool> pools_;
};

}  // namespace

void register_physics_gan_recipe() {
  recipes().add("physics_gan",
                "Physics-GAN's step: G with L_a + lambda L_g + gamma L_p + mu L_g~ through the physics operator, "
                "then D_g and D_h on image pools (Pan et al. 2020)",
                [](const RecipeEnv& env) -> RecipePtr { return std::make_unique<PhysicsGanRecipe>(env); });
}

}  // namespace dmgn::train
