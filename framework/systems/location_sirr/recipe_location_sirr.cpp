// The "location_sirr" recipe: Location-aware SIRR's step (Dong et al., ICCV 2021, Sec. 4-5):
//   1. the network's N iterations on this rank's batch;
//   2. for the adversarial term (Eq. 14, form "gan": -log D), a discriminator update on the
//      detached T_N (optimizer "opt_d");
//   3. the generator update with every loss term of phase "generator" (Eq. 15: 0.4 L_comp +
//      0.2 L_P + 0.4 L_mix + 0.01 L_adv, iterations weighted theta^(N-i)), discriminator frozen;
//      between the gradient averaging and Adam's step the gradient of the MLSM kernel is clipped
//      to norm location_sirr.laplacian_grad_clip (0.25: "to make sure the learned kernel stays
//      close to the original kernel", Sec. 3; 0 = none, Table 2's "w/o GC").
// The model has no VGG-19 of its own: the recipe holds a frozen one for the perceptual loss
// (location_sirr.vgg_weights; random without a file, marked so like DMGN's), built right after
// the model from the run's seed, so every rank and every resume builds the same one.
// Modules "model" and "discriminator"; Adam optim.lr / optim.d_lr with optim.betas.
#include <fmt/format.h>

#include "core/dtype.h"
#include "core/error.h"
#include "systems/location_sirr/location_sirr.h"
#include "nn/discriminators.h"
#include "train/recipe.h"

namespace dmgn::train {

namespace {

// Scales `g` in place so that its L2 norm is at most max_norm (torch.nn.utils.clip_grad_norm_).
void clip_norm(torch::Tensor& g, double max_norm) {
  if (!g.defined() || max_norm <= 0) return;
  torch::NoGradGuard guard;
  const auto norm = g.norm();
  g.mul_(torch::clamp_max(max_norm / (norm + 1e-6), 1.0));
}

bool uses_loss(const Config& c, const std::string& loss) {
  for (const auto& s : losses::term_specs(c))
    if (s.loss == loss && s.weight > 0) return true;
  return false;
}

class LocationSirrRecipe : public Recipe {
 public:
  explicit LocationSirrRecipe(const RecipeEnv& env) : Recipe(env) {
    const Config& c = cfg();
    model_ = models::build_model(c);
    losses::LossContext ctx{model_->shared_vgg(), model_->input_range()};
    if (!ctx.vgg && uses_loss(c, "perceptual")) {
      vgg_ = nn::Vgg19();
      vgg_->set_weights_key("location_sirr.vgg_weights");
      const auto file = c.get_string("location_sirr.vgg_weights");
      if (!file.empty()) vgg_->load_weights(file);
      for (auto& p : vgg_->parameters()) p.set_requires_grad(false);
      vgg_->eval();
      vgg_->to(device());
      ctx.vgg = vgg_;
    }
    terms_ = std::make_unique<losses::TermSet>(c, *model_, ctx);
    const auto names = terms_->discriminators();
    if (names.size() > 1)
      throw ConfigError(fmt::format("the location_sirr recipe trains one discriminator; the loss terms name {}",
                                    names.size()));
    add_module("model", model_);
    if (!names.empty()) {
      disc_name_ = names[0];
      disc_ = nn::discriminators().make(c.get_string("discriminator.name"), c.sub("discriminator"));
      add_module(disc_name_, disc_);
      discs_[disc_name_] = disc_.get();
    }
    split_rng_streams();
    const auto betas = c.get_floats("optim.betas");
    if (betas.size() != 2) throw ConfigError("config key 'optim.betas' needs two values");
    add_adam("opt_g", model_->parameters(), c.get_float("optim.lr"), {betas[0], betas[1]});
    if (disc_) add_adam("opt_d", disc_->parameters(), c.get_float("optim.d_lr"), {betas[0], betas[1]});
    clip_ = c.get_float("location_sirr.laplacian_grad_clip");
    if (auto* sirr = dynamic_cast<models::LocationSirr*>(model_.get())) kernel_ = sirr->laplacian_kernel();
  }

  models::Model& model() override { return *model_; }
  nn::Vgg19 loss_vgg() override { return vgg_ ? vgg_ : model_->shared_vgg(); }

 protected:
  void run(Frame& f) override {
    const auto out = f.forward([&] { return model_->forward(f.batch().at("input")); });
    f.note_outputs(out);
    if (disc_) {
      losses::TermValues critic;
      critic.total = f.forward([&] { return terms_->critic(disc_name_, out, f.batch(), *disc_); });
      if (critic.total.defined()) {
        critic.total = at_least_fp32(critic.total);
        f.update("opt_d", critic, "d_loss", "discriminator loss (Eq. 14)");
      }
    }
    losses::TermValues g;
    {
      const FrozenParameters frozen({disc_.get()});
      g = f.forward([&] { return terms_->evaluate("generator", out, f.batch(), discs_); });
    }
    f.update("opt_g", g, "loss", "total", [&] {
      if (!kernel_.defined() || !kernel_.requires_grad()) return;
      auto grad = kernel_.mutable_grad();
      clip_norm(grad, clip_);
    });
  }

 private:
  models::ModelPtr model_;
  nn::Vgg19 vgg_{nullptr};
  std::unique_ptr<losses::TermSet> terms_;
  std::string disc_name_;
  nn::DiscriminatorPtr disc_;
  std::map<std::string, nn::Discriminator*> discs_;  // the same, as the loss terms look it up
  torch::Tensor kernel_;
  double clip_ = 0;
};

}  // namespace

void register_location_sirr_recipe() {
  recipes().add("location_sirr",
                "Location-aware SIRR's step: discriminator (Eq. 14), then the network with the MLSM kernel's "
                "gradient clipped (Sec. 3-4)",
                [](const RecipeEnv& env) -> RecipePtr { return std::make_unique<LocationSirrRecipe>(env); });
}

}  // namespace dmgn::train
