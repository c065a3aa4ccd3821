#include "losses/losses.h"

#include <fmt/format.h>

#include <algorithm>

#include "core/error.h"
#include "losses/composition.h"
#include "losses/physics.h"
#include "losses/ssim_loss.h"

namespace dmgn::losses {

torch::Tensor L1Loss::operator()(const torch::Tensor& y, const torch::Tensor& target) {
  return (y - target).abs().mean();  // Eq. 11
}

PerceptualLoss::PerceptualLoss(const Config& cfg, nn::Vgg19 vgg, models::InputRange range)
    : vgg_(std::move(vgg)),
      taps_(cfg.get_ints("taps")),
      weights_(cfg.get_floats("weights")),
      imagenet_(cfg.get_bool("imagenet_normalise")),
      range_(range) {
  if (!vgg_) throw ConfigError("perceptual loss needs a model with a VGG-19 (model.head)");
  nn::check_vgg_taps(taps_, cfg.prefix() + ".taps");
  if (weights_.size() != taps_.size())
    throw ConfigError(fmt::format("config keys '{0}.taps' and '{0}.weights' must have the same length",
                                  cfg.prefix()));
  mean_ = torch::tensor({0.485, 0.456, 0.406}, torch::kFloat32).view({1, 3, 1, 1});
  std_ = torch::tensor({0.229, 0.224, 0.225}, torch::kFloat32).view({1, 3, 1, 1});
}

torch::Tensor PerceptualLoss::prepare(const torch::Tensor& x) const {
  auto y = range_ == models::InputRange::minus_one_one ? (x + 1.0) * 0.5 : x;
  if (imagenet_) {
    if (!dev_mean_.defined() || dev_mean_.device() != y.device()) {
      dev_mean_ = mean_.to(y.device());
      dev_std_ = std_.to(y.device());
    }
    y = (y - dev_mean_) / dev_std_;
  }
  return y;
}

torch::Tensor PerceptualLoss::operator()(const torch::Tensor& y, const torch::Tensor& target) {
  std::vector<torch::Tensor> ft;
  {
    torch::NoGradGuard g;
    ft = vgg_->forward(prepare(target), taps_);
  }
  auto fy = vgg_->forward(prepare(y), taps_);
  torch::Tensor loss = torch::zeros({}, y.options());
  for (size_t l = 0; l < taps_.size(); ++l)
    loss = loss + weights_[l] * (fy[l] - ft[l]).abs().mean();  // Eq. 12 (1/CHW = mean)
  return loss;
}

torch::Tensor CriticLoss::generator(nn::Discriminator& d, const torch::Tensor& b, const torch::Tensor& i,
                                    const torch::Tensor& /*b_real*/) const {
  if (form_ == AdversarialForm::gan) return torch::softplus(-d.forward(b, i)).mean();  // -log sigmoid(D)
  if (form_ == AdversarialForm::lsgan) return (d.forward(b, i) - 1).pow(2).mean();     // MSE(D, 1)
  return -d.forward(b, i).mean();  // Eq. 13
}

torch::Tensor CriticLoss::critic(nn::Discriminator& d, const torch::Tensor& b_fake,
                                 const torch::Tensor& b_real, const torch::Tensor& i) const {
  const auto fake = b_fake.detach();
  torch::Tensor loss;
  if (form_ == AdversarialForm::gan)
    loss = 0.5 * (torch::softplus(-d.forward(b_real, i)).mean() + torch::softplus(d.forward(fake, i)).mean());
  else if (form_ == AdversarialForm::lsgan)  // 1/2 [MSE(D(real), 1) + MSE(D(fake), 0)]
    loss = 0.5 * ((d.forward(b_real, i) - 1).pow(2).mean() + d.forward(fake, i).pow(2).mean());
  else
    loss = -d.forward(b_real, i).mean() + d.forward(fake, i).mean();  // Eq. 14
  if (lipschitz_ == Lipschitz::gp && gp_weight_ > 0) {
    auto eps = torch::rand({b_real.size(0), 1, 1, 1}, b_real.options());
    auto x_hat = (eps * b_real.detach() + (1 - eps) * fake).requires_grad_(true);
    auto score = d.forward(x_hat, i);
    auto grad = torch::autograd::grad({score.sum()}, {x_hat}, {}, /*retain_graph=*/true,
                                      /*create_graph=*/true)[0];
    auto norm = (grad.flatten(1).pow(2).sum(1) + 1e-12).sqrt();
    loss = loss + gp_weight_ * (norm - 1).pow(2).mean();
  }
  return loss;
}

void CriticLoss::constrain(nn::Discriminator& d) const {
  if (lipschitz_ != Lipschitz::clip) return;
  torch::NoGradGuard guard;
  for (auto& p : d.parameters()) p.clamp_(-clip_, clip_);
}

LossRegistry& losses() {
  static LossRegistry registry("loss");
  return registry;
}

PixelLossPtr pixel_loss(const std::string& name, const Config& cfg, const LossContext& ctx) {
  auto p = std::dynamic_pointer_cast<PixelLoss>(losses().make(name, cfg, ctx));
  if (!p) throw RegistryError(fmt::format("loss '{}' is not a pixel loss (image vs target)", name));
  return p;
}

std::shared_ptr<CriticLoss> adversarial_loss(const std::string& name, const Config& cfg,
                                             const LossContext& ctx) {
  auto p = std::dynamic_pointer_cast<CriticLoss>(losses().make(name, cfg, ctx));
  if (!p) throw RegistryError(fmt::format("loss '{}' is not an adversarial loss", name));
  return p;
}

namespace {

std::map<std::string, LossNeedRule>& need_rules() {
  static std::map<std::string, LossNeedRule> rules;
  return rules;
}

}  // namespace

void register_loss_need(const std::string& loss, LossNeedRule rule) { need_rules()[loss] = std::move(rule); }

models::InputRequirement loss_need(const Config& cfg, const std::string& loss) {
  const auto it = need_rules().find(loss);
  return it == need_rules().end() ? models::InputRequirement{} : it->second(cfg);
}

void register_builtins() {
  losses().add("l1", "pixel-wise L1 reconstruction loss (Eq. 11)",
               [](const Config&, const LossContext&) -> LossTermPtr { return std::make_shared<L1Loss>(); });
  losses().add("perceptual", "VGG-19 perceptual loss, ERRNet taps and weights (Eq. 12)",
               [](const Config& cfg, const LossContext& ctx) -> LossTermPtr {
                 return std::make_shared<PerceptualLoss>(cfg.sub("loss.perceptual"), ctx.vgg, ctx.range);
               });
  losses().add("adversarial", "conditional critic loss with D(B, I) (Eq. 13-14)",
               [](const Config& cfg, const LossContext&) -> LossTermPtr {
                 const Config a = cfg.sub("loss.adversarial");
                 const auto form = a.get_string("form");
                 if (form != "critic" && form != "gan" && form != "lsgan")
                   throw ConfigError(fmt::format(
                       "config key 'loss.adversarial.form': '{}' is not one of: critic, gan, lsgan", form));
                 const auto l = a.get_string("lipschitz");
                 const Lipschitz lip = l == "gp" ? Lipschitz::gp
                                       : l == "clip" ? Lipschitz::clip
                                       : l == "none" ? Lipschitz::none
                                                     : throw ConfigError(fmt::format(
                                                           "config key 'loss.adversarial.lipschitz': '{}' "
                                                           "is not one of gp, clip, none", l));
                 if (a.get_float("gp_weight") < 0 || a.get_float("clip") <= 0)
                   throw ConfigError("config keys 'loss.adversarial.gp_weight' (>= 0) and '.clip' (> 0)");
                 return std::make_shared<CriticLoss>(lip, a.get_float("gp_weight"), a.get_float("clip"),
                                                     form == "gan"     ? AdversarialForm::gan
                                                     : form == "lsgan" ? AdversarialForm::lsgan
                                                                       : AdversarialForm::critic);
               });
  // VGG-19's 2x2 max poolings floor the side: features after p poolings need 2^p px.
  register_loss_need("perceptual", [](const Config& cfg) {
    models::InputRequirement r;
    const auto taps = cfg.get_ints("loss.perceptual.taps");
    if (taps.empty()) return r;
    const int64_t deepest = *std::max_element(taps.begin(), taps.end());
    const int64_t pools = nn::Vgg19Impl::pools_before(deepest);
    r.min_side = int64_t(1) << pools;
    r.why = fmt::format("loss.perceptual.taps: VGG-19 features {} come after {} 2x2 poolings", deepest, pools);
    return r;
  });
  // The critic sees the output (and its condition, the input's size).
  register_loss_need("adversarial", [](const Config& cfg) {
    models::InputRequirement r;
    if (!cfg.has("discriminator.name")) return r;
    const auto d = nn::discriminator_min_side(cfg.get_string("discriminator.name"), cfg.sub("discriminator"));
    r.min_side = d.min_side;
    r.why = d.why;
    return r;
  });
  register_ssim_loss();
  register_composition_losses();
  register_physics_operators();
}

}  // namespace dmgn::losses
