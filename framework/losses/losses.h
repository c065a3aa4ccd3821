#pragma once
// Loss terms (registry kind "loss"), on model-space images:
//   l1          — Eq. 11: mean |Y - Y_gt|.
//   perceptual  — Eq. 12: sum_l w_l * mean |f_l(Y) - f_l(Y_gt)| over VGG-19 taps (ERRNet's
//                 VGGLoss: relu1_1..relu5_1, weights 1/2.6, 1/4.8, 1/3.7, 1/5.6, 10/1.5, inputs
//                 mapped to [0,1] and ImageNet-normalised). Shares the model's frozen VGG.
//   adversarial — Eq. 13-14, the conditional critic form with D(B, I):
//                 L_adv = -E[D(B, I)],  L_D = -E[D(B_gt, I)] + E[D(B, I)], with a Lipschitz
//                 constraint on D (loss.adversarial.lipschitz): a gradient penalty
//                 gp_weight * E[(|grad D(x_hat, I)| - 1)^2] on random interpolates x_hat of B_gt
//                 and B, weight clipping after each critic step, or none.
//                 form "gan" (loss.adversarial.form): the standard GAN with logits instead,
//                 L_adv = -log sigmoid(D(B)) (Location-aware SIRR, Eq. 14), L_D = 1/2 [BCE(D(B_gt), 1)
//                 + BCE(D(B), 0)] (pix2pix's averaging).
//                 form "lsgan": least squares (Mao et al. 2017; Physics-GAN, CycleGAN's GANLoss):
//                 L_adv = mean (D(B) - 1)^2, L_D = 1/2 [mean (D(B_gt) - 1)^2 + mean D(B)^2].
//   rcmap_composition, rcmap_bce, residual_reflection, residual_transmission — Location-aware
//                 SIRR's composition losses (losses/composition.h); they read the batch.
//   ssim        — 1 - SSIM (losses/ssim_loss.h): not in DMGN's objective; the loss of other
//                 systems (Location-aware SIRR's L_mix, MBN), composable into any term list.
#include <torch/torch.h>

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "core/config.h"
#include "core/registry.h"
#include "models/model.h"
#include "nn/discriminators.h"
#include "nn/vgg.h"

namespace dmgn::losses {

class LossTerm {
 public:
  virtual ~LossTerm() = default;
};
using LossTermPtr = std::shared_ptr<LossTerm>;

class PixelLoss : public LossTerm {
 public:
  virtual torch::Tensor operator()(const torch::Tensor& y, const torch::Tensor& target) = 0;
};
using PixelLossPtr = std::shared_ptr<PixelLoss>;

class L1Loss : public PixelLoss {
 public:
  torch::Tensor operator()(const torch::Tensor& y, const torch::Tensor& target) override;
};

class PerceptualLoss : public PixelLoss {
 public:
  // cfg: the [loss.perceptual] table; vgg: the model's frozen VGG-19.
  PerceptualLoss(const Config& cfg, nn::Vgg19 vgg, models::InputRange range);
  torch::Tensor operator()(const torch::Tensor& y, const torch::Tensor& target) override;

 private:
  torch::Tensor prepare(const torch::Tensor& x) const;
  nn::Vgg19 vgg_;
  std::vector<int64_t> taps_;
  std::vector<double> weights_;
  bool imagenet_;
  models::InputRange range_;
  torch::Tensor mean_, std_;
  // mean_ and std_ on the device of the last call: a host-to-device copy per call would make
  // every training step wait for the host (and cannot be captured in a CUDA graph).
  mutable torch::Tensor dev_mean_, dev_std_;
};

// A loss that reads more of the batch than one target (composition losses): y is one output
// item, `batch` every batch tensor in model space by field name. The term's `target` names the
// field whose absence drops an optional term (or is refused).
class BatchLoss : public LossTerm {
 public:
  virtual torch::Tensor operator()(const torch::Tensor& y, const std::map<std::string, torch::Tensor>& batch) = 0;
};

enum class Lipschitz { none, gp, clip };
enum class AdversarialForm { critic, gan, lsgan };

class CriticLoss : public LossTerm {
 public:
  CriticLoss(Lipschitz lipschitz, double gp_weight, double clip, AdversarialForm form = AdversarialForm::critic)
      : lipschitz_(lipschitz), gp_weight_(gp_weight), clip_(clip), form_(form) {}
  // Generator side, Eq. 13. `b_real` is the term's target (the ground truth), which relativistic
  // losses (a subclass, e.g. ERRNet's RaSGAN) score the output against; these forms ignore it.
  virtual torch::Tensor generator(nn::Discriminator& d, const torch::Tensor& b, const torch::Tensor& i,
                                  const torch::Tensor& b_real = {}) const;
  // Discriminator side, Eq. 14 (b_fake is detached here).
  virtual torch::Tensor critic(nn::Discriminator& d, const torch::Tensor& b_fake, const torch::Tensor& b_real,
                               const torch::Tensor& i) const;
  // After each critic step: clips D's weights when lipschitz = clip.
  void constrain(nn::Discriminator& d) const;

 private:
  Lipschitz lipschitz_;
  double gp_weight_, clip_;
  AdversarialForm form_;
};

struct LossContext {
  nn::Vgg19 vgg{nullptr};
  models::InputRange range = models::InputRange::minus_one_one;
};

// registry "loss": factory(full config, context); callers downcast with pixel_loss() /
// adversarial_loss(), which name the loss and the role on mismatch.
using LossRegistry = Registry<LossTermPtr, const Config&, const LossContext&>;
LossRegistry& losses();
PixelLossPtr pixel_loss(const std::string& name, const Config& cfg, const LossContext& ctx);
std::shared_ptr<CriticLoss> adversarial_loss(const std::string& name, const Config& cfg,
                                             const LossContext& ctx);

// The smallest side a loss takes on an output it scores, and why: config-only (full config),
// registered next to the loss (the perceptual loss: VGG-19's poolings before its deepest tap;
// ssim: its window; adversarial: its critic, nn::discriminator_min_side). A loss without a rule
// takes any side. losses::training_requirement (losses/terms.h) raises a model's to them.
using LossNeedRule = std::function<models::InputRequirement(const Config& /*full config*/)>;
void register_loss_need(const std::string& loss, LossNeedRule rule);
models::InputRequirement loss_need(const Config& cfg, const std::string& loss);

void register_builtins();

}  // namespace dmgn::losses
