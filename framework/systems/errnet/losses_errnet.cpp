// ERRNet's losses (Vandermode/ERRNet models/losses.py), registered in the loss registry:
//   mse       mean (Y - Y_gt)^2 (nn.MSELoss): 0.2 of its pixel loss
//   gradient  GradientLoss: L1 of the finite differences along H and along W, summed,
//             mean |dY - dY_gt| per direction (compute_gradient): 0.4 of its pixel loss
//   rasgan    DiscLossRa, the relativistic average standard GAN (Jolicoeur-Martineau 2018) with
//             logits (BCEWithLogits), means over the batch dimension (keepdim):
//               D: 1/2 [BCE(D(real) - mean D(fake), 1) + BCE(D(fake) - mean D(real), 0)]
//               G: 1/2 [BCE(D(real) - mean D(fake), 0) + BCE(D(fake) - mean D(real), 1)]
//             D(real) in G's loss is scored by the frozen critic on the term's target; the
//             gradient reaches G through D(fake) in both halves.
// The VGG loss is the shared "perceptual" loss (its defaults are ERRNet's VGGLoss).
#include <fmt/format.h>

#include "core/error.h"
#include "losses/losses.h"
#include "nn/discriminators.h"

namespace dmgn::models::errnet {

class MseLoss : public losses::PixelLoss {
 public:
  torch::Tensor operator()(const torch::Tensor& y, const torch::Tensor& target) override {
    return (y - target).pow(2).mean();
  }
};

class GradientLoss : public losses::PixelLoss {
 public:
  torch::Tensor operator()(const torch::Tensor& y, const torch::Tensor& target) override {
    const int64_t h = y.size(-2), w = y.size(-1);
    // img[..., 1:, :] - img[..., :-1, :] and img[..., 1:] - img[..., :-1]
    const auto dh = [h](const torch::Tensor& x) { return x.narrow(-2, 1, h - 1) - x.narrow(-2, 0, h - 1); };
    const auto dw = [w](const torch::Tensor& x) { return x.narrow(-1, 1, w - 1) - x.narrow(-1, 0, w - 1); };
    return (dh(y) - dh(target)).abs().mean() + (dw(y) - dw(target)).abs().mean();
  }
};

class RaSganLoss : public losses::CriticLoss {
 public:
  // No Lipschitz constraint (the reference has none); the form is unused (both sides overridden).
  RaSganLoss() : CriticLoss(losses::Lipschitz::none, 0.0, 1.0, losses::AdversarialForm::gan) {}

  torch::Tensor generator(nn::Discriminator& d, const torch::Tensor& b, const torch::Tensor& i,
                          const torch::Tensor& b_real) const override {
    if (!b_real.defined())
      throw Error("loss 'rasgan': the generator's loss needs the real sample (the term's target)");
    const auto real = d.forward(b_real, i), fake = d.forward(b, i);
    return 0.5 * (bce(real - fake.mean({0}, true), false) + bce(fake - real.mean({0}, true), true));
  }

  torch::Tensor critic(nn::Discriminator& d, const torch::Tensor& b_fake, const torch::Tensor& b_real,
                       const torch::Tensor& i) const override {
    const auto real = d.forward(b_real, i), fake = d.forward(b_fake.detach(), i);
    return 0.5 * (bce(real - fake.mean({0}, true), true) + bce(fake - real.mean({0}, true), false));
  }

 private:
  // BCEWithLogits against an all-ones (real) or all-zeros target, averaged: softplus(-x) and
  // softplus(x).
  static torch::Tensor bce(const torch::Tensor& logits, bool real) {
    return torch::softplus(real ? -logits : logits).mean();
  }
};

void register_errnet_losses() {
  using losses::LossContext;
  using losses::LossTermPtr;
  losses::losses().add("mse", "mean squared error (ERRNet's pixel loss: 0.2 MSE + 0.4 gradient)",
                       [](const Config&, const LossContext&) -> LossTermPtr { return std::make_shared<MseLoss>(); });
  losses::losses().add("gradient", "L1 of the vertical and horizontal finite differences, summed (ERRNet's GradientLoss)",
                       [](const Config&, const LossContext&) -> LossTermPtr {
                         return std::make_shared<GradientLoss>();
                       });
  losses::losses().add("rasgan", "relativistic average GAN with logits on an unconditioned critic (ERRNet's DiscLossRa)",
                       [](const Config&, const LossContext&) -> LossTermPtr { return std::make_shared<RaSganLoss>(); });
  // A finite difference needs two pixels along each side.
  losses::register_loss_need("gradient", [](const Config&) {
    models::InputRequirement r;
    r.min_side = 2;
    r.why = "loss 'gradient': finite differences need 2 px per side";
    return r;
  });
  // The critic sees the output (as the adversarial loss: its discriminator's side).
  losses::register_loss_need("rasgan", [](const Config& cfg) {
    models::InputRequirement r;
    if (!cfg.has("discriminator.name")) return r;
    const auto d = nn::discriminator_min_side(cfg.get_string("discriminator.name"), cfg.sub("discriminator"));
    r.min_side = d.min_side;
    r.why = d.why;
    return r;
  });
}

}  // namespace dmgn::models::errnet
