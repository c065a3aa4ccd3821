#pragma once
// reflection_linear — Location-aware SIRR's synthesis (Dong et al., ICCV 2021, Eq. 6): in linear
// space T~ = T^2.2, R~ = s R_photo^2.2 (optionally Gaussian-blurred), I~ = alpha T~ + R~ with
// alpha ~ U[alpha range] (paper: [0.8, 1.0]), then I = clip(I~, 0, 1)^(1/2.2). Returns T, the
// reflection R = R~^(1/2.2) (the "noise" and "reflection" fields) and I, and records alpha
// (field "alpha", 1x1x1) for the residual loss. Where I~ exceeds 1 the clip breaks
// g(I) = alpha g(T) + g(R) (the paper does not say how it treats saturation); the fraction of
// such pixels is small for the default scale s = 1 on ordinary photos. [synth.reflection_linear]
// sets the ranges; needs SynthInput::layer.
#include "data/synthesis.h"

namespace dmgn::data {

struct LinearBlendOptions {
  double alpha_lo = 0.8, alpha_hi = 1.0;  // U[lo, hi]
  double scale_lo = 1.0, scale_hi = 1.0;  // reflection intensity s in linear space
  double sigma_lo = 0.0, sigma_hi = 0.0;  // Gaussian blur of R~ (0 = none)
  static LinearBlendOptions from_config(const Config& full);
};

struct LinearBlendParams {
  double alpha = 1.0, scale = 1.0, sigma = 0.0;
};

SynthOutput synthesize_linear_blend(const cv::Mat& t, const cv::Mat& r, const LinearBlendParams& p);

class ReflectionLinear final : public Synthesis {
 public:
  explicit ReflectionLinear(LinearBlendOptions o) : o_(o) {}
  SynthOutput synthesize(const SynthInput& in, Rng& rng) const override;
  bool needs_layer() const override { return true; }
  std::string task() const override { return "reflection"; }
  std::string name() const override { return "reflection_linear"; }

 private:
  LinearBlendOptions o_;
};

void register_linear_blend_synth();

}  // namespace dmgn::data
