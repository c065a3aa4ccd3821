#pragma once
// The SSIM loss (registry "loss", name "ssim"): 1 - mean SSIM(Y, Y_gt) (Wang et al. 2004), on
// images mapped to [0, 1], per channel, differentiable. Its window ([loss.ssim]): Gaussian
// (size 11, sigma 1.5: the pytorch-ssim / Location-aware SIRR and MBN convention) or uniform
// (box); C1 = (k1)^2, C2 = (k2)^2 at data range 1; the mean is over the positions where the
// window fits (padding "valid") or, with padding "zero", over every pixel of the zero-padded,
// same-size map (pytorch-ssim's F.conv2d(padding = size / 2), PReNet's SSIM.py), and over
// channels and samples.
// Used alone or mixed with L1 by weights in the loss terms (Location-aware SIRR's
// L_mix = 0.84 (1 - SSIM) + 0.16 L1; MBN's 1.1 (1 - SSIM) + 0.75 L1).
#include <torch/torch.h>

#include "core/config.h"
#include "losses/losses.h"

namespace dmgn::losses {

struct SsimWindow {
  bool gaussian = true;
  int64_t size = 11;
  double sigma = 1.5;
  double k1 = 0.01, k2 = 0.03;
  bool zero_padding = false;  // [loss.ssim] padding = "zero" (else "valid")
  static SsimWindow from_config(const Config& ssim);  // the [loss.ssim] table, validated
};

// The mean SSIM map of x and y (N, C, H, W in [0, 1]), differentiable in both. H and W must be
// at least the window size without padding.
torch::Tensor ssim_mean(const torch::Tensor& x, const torch::Tensor& y, const SsimWindow& w);

class SsimLoss : public PixelLoss {
 public:
  SsimLoss(const SsimWindow& w, models::InputRange range) : w_(w), range_(range) {}
  torch::Tensor operator()(const torch::Tensor& y, const torch::Tensor& target) override;

 private:
  SsimWindow w_;
  models::InputRange range_;
  torch::Tensor window_;  // the 1-D window on the device and dtype of the last call
};

void register_ssim_loss();

}  // namespace dmgn::losses
