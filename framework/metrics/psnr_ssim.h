#pragma once
// PSNR and SSIM under a metric convention (metrics/spec.h: the named presets, "custom", and
// what each step of a Spec means).
// Inputs: `out` (estimate) and `gt` (reference), same shape, CxHxW or NxCxHxW floating-point
// tensors holding images in [0,1] (any device; copied to CPU double). A batch gives the mean
// of the per-image values. Colour "y" needs 3 (RGB) channels; "rgb" takes any channel count.
// Images must be at least Spec::min_side() on each side (2*crop + window for 'valid', 2*crop
// + 1 for 'zero'). Bad inputs throw DataError naming the argument; an invalid Spec throws
// ConfigError naming the field.
// Cost: SSIM is a separable filter over the five moments (x, y, xx, yy, xy) through a ring of
// row buffers reused across rows and channels (no per-pixel allocation), one thread: ~40 ms of
// CPU per 620x460 RGB image with the 11-tap Gaussian, ~15 ms for one Y plane.
#include <torch/torch.h>

#include "metrics/spec.h"

namespace dmgn::metrics {

struct Quality {
  double psnr = 0.0;
  double ssim = 0.0;
};

inline constexpr double kPsnrCap = 100.0;

double psnr(const torch::Tensor& out, const torch::Tensor& gt, const Spec& spec);
double ssim(const torch::Tensor& out, const torch::Tensor& gt, const Spec& spec);
Quality assess(const torch::Tensor& out, const torch::Tensor& gt, const Spec& spec);

}  // namespace dmgn::metrics
