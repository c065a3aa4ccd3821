#include "train/objective.h"

#include <fmt/format.h>

#include <cmath>

#include "core/error.h"

namespace dmgn::train {

std::vector<double> LossTerms::values() const {
  std::vector<torch::Tensor> parts{total.detach().reshape({1})};
  for (const auto& [name, t] : terms) parts.push_back(t.detach().reshape({1}));
  const auto host = torch::cat(parts).to(torch::kCPU, torch::kFloat64);
  const auto* p = host.data_ptr<double>();
  return std::vector<double>(p, p + host.numel());
}

Objective::Objective(const Config& cfg, models::Model& model) {
  refine_ = model.has_refine();
  w_l1_r_ = cfg.get_float("loss.refine.l1");
  w_p_r_ = cfg.get_float("loss.refine.perceptual");
  w_adv_ = cfg.get_float("loss.refine.adversarial");
  w_l1_c_ = cfg.get_float("loss.coarse.l1");
  w_p_c_ = cfg.get_float("loss.coarse.perceptual");
  noise_ = cfg.get_bool("loss.coarse.noise") && model.has_noise();
  for (double w : {w_l1_r_, w_p_r_, w_adv_, w_l1_c_, w_p_c_})
    if (w < 0 || !std::isfinite(w)) throw ConfigError("loss weights (loss.refine.*, loss.coarse.*) must be >= 0");
  losses::LossContext ctx{model.vgg(), model.input_range()};
  l1_ = losses::pixel_loss("l1", cfg, ctx);
  if ((refine_ && w_p_r_ > 0) || w_p_c_ > 0) perceptual_ = losses::pixel_loss("perceptual", cfg, ctx);
  if (adversarial()) adv_ = losses::adversarial_loss("adversarial", cfg, ctx);
  const double any = (refine_ ? w_l1_r_ + w_p_r_ + w_adv_ : 0.0) + w_l1_c_ + w_p_c_;
  if (any <= 0) throw ConfigError("every loss weight is 0: nothing to train (loss.refine.*, loss.coarse.*)");
}

LossTerms Objective::generator(const models::ModelOutput& out, const ModelBatch& b,
                               nn::Discriminator* d) const {
  LossTerms lt;
  auto add = [&](const char* name, double w, const std::function<torch::Tensor()>& f) {
    if (w <= 0) return;
    lt.terms.emplace_back(name, w * f().to(torch::kFloat));  // fp32 terms under bf16 autocast too
  };
  if (refine_) {
    add("l1_r", w_l1_r_, [&] { return (*l1_)(out.background, b.background); });
    add("p_r", w_p_r_, [&] { return (*perceptual_)(out.background, b.background); });
    if (adversarial()) {
      if (!d) throw Error("the adversarial term needs a discriminator");
      add("adv_r", w_adv_, [&] { return adv_->generator(*d, out.background, b.input); });
    }
  }
  add("l1_c", w_l1_c_, [&] { return (*l1_)(out.coarse, b.background); });
  add("p_c", w_p_c_, [&] { return (*perceptual_)(out.coarse, b.background); });
  if (noise_ && out.noise.defined() && b.noise.defined()) {
    add("l1_n", w_l1_c_, [&] { return (*l1_)(out.noise, b.noise); });
    add("p_n", w_p_c_, [&] { return (*perceptual_)(out.noise, b.noise); });
  }
  for (const auto& [name, t] : lt.terms) lt.total = lt.total.defined() ? lt.total + t : t;
  return lt;
}

torch::Tensor Objective::critic(nn::Discriminator& d, const models::ModelOutput& out,
                                const ModelBatch& b) const {
  return adv_->critic(d, out.background, b.background, b.input);
}

}  // namespace dmgn::train
