#pragma once
// PSNR and SSIM as each benchmark's reference code computes them (named presets).
// Inputs: `out` (estimate) and `gt` (reference), same shape, 3xHxW or Nx3xHxW floating-point
// tensors holding images in [0,1] (any device; copied to CPU double). Values are clipped to
// [0,1] first and are NOT quantised to 8 bits (quantise beforehand to mimic scripts that read
// saved PNGs). A batch gives the mean of the per-image values. Everything runs in double.
//   real20  ERRNet util/index.py = official DMGN assess.py: x255; per RGB channel, averaged;
//           PSNR peak 255; SSIM = skimage structural_similarity defaults (7x7 uniform window,
//           K 0.01/0.03, sample covariance 49/48, map mean with a 3-pixel border cropped), L 255.
//   rain100 PReNet statistic/*.m: Y of MATLAB rgb2ycbcr (BT.601, +16/255 offset); PSNR peak 1
//           on Y in [0,1]; SSIM on Y*255 in Wang's ssim_index style: Gaussian 11x11 sigma 1.5,
//           K 0.01/0.03, L 255, 'valid' filtering, mean of the map.
//   sots    FFA-Net net/metrics.py (= pytorch-ssim): RGB on [0,1]; Gaussian 11/1.5 with zero
//           padding 5 (same-size map), C1 0.01^2, C2 0.03^2, mean over channels and pixels;
//           PSNR = 10 log10(1/mse), mse over all channels.
//   basicsr BasicSR calculate_psnr/calculate_ssim (crop_border 0, RGB, no Y): x255; PSNR peak
//           255 with mse over all channels; SSIM Gaussian 11/1.5, valid region, per channel,
//           averaged.
// PSNR: a zero MSE gives kPsnrCap (100 dB, FFA-Net's convention) where skimage and BasicSR
// return inf; larger values are capped too, so batch means stay finite. NaN inputs give NaN.
// Minimum image side: 7 (real20), 11 (rain100, basicsr), 1 (sots). rain100 needs 3 channels;
// the others accept any channel count. Bad inputs throw DataError naming the argument; an
// unknown preset name throws ConfigError listing the known names.
#include <torch/torch.h>

#include <string>
#include <vector>

namespace dmgn::metrics {

enum class Preset { real20, rain100, sots, basicsr };

struct Quality {
  double psnr = 0.0;
  double ssim = 0.0;
};

inline constexpr double kPsnrCap = 100.0;

std::string preset_name(Preset preset);
Preset preset_from_string(const std::string& name);
std::vector<std::string> preset_names();  // in enum order

double psnr(const torch::Tensor& out, const torch::Tensor& gt, Preset preset);
double ssim(const torch::Tensor& out, const torch::Tensor& gt, Preset preset);
Quality assess(const torch::Tensor& out, const torch::Tensor& gt, Preset preset);

}  // namespace dmgn::metrics
