#pragma once
// Bicubic resampling of N x C x H x W tensors as a product with two interpolation matrices
// (out = R_h x R_w^T per plane), so it is differentiable in x and runs on any device. Two
// conventions (config value in parentheses):
//   reference ("reference") — Physics-GAN's released bicubic_interp_2d (after iwyoo's
//       TensorFlow bicubic_interp): Catmull-Rom (a = -0.5), output pixel i samples the input at
//       i * in / out (top-left aligned, no half-pixel shift), neighbours clamped to the border,
//       no anti-aliasing. Downscaling by an integer factor s is then exact decimation x[::s].
//   matlab ("matlab") — MATLAB imresize(..., 'bicubic'): a = -0.5, half-pixel centres
//       (i + 0.5) * in / out - 0.5, the kernel widened by 1/scale when shrinking
//       (anti-aliasing), weights normalised per output pixel, symmetric border mirroring.
#include <torch/torch.h>

#include <string>

namespace dmgn::data {

enum class BicubicConvention { reference, matlab };
// "reference" | "matlab"; ConfigError naming `key` otherwise.
BicubicConvention bicubic_convention(const std::string& s, const std::string& key);

// The out x in interpolation matrix of one axis.
torch::Tensor bicubic_matrix(int64_t in, int64_t out, BicubicConvention c,
                             torch::TensorOptions options = torch::kFloat32);

// x (N x C x H x W, floating point) resampled to out_h x out_w.
torch::Tensor bicubic_resize(const torch::Tensor& x, int64_t out_h, int64_t out_w, BicubicConvention c);

}  // namespace dmgn::data
