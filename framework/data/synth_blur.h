#pragma once
// blur_motion — non-blind motion blur with the kernel kept in the sample (Physics-GAN's
// deblurring data, Pan et al. TPAMI 2020, Eq. 7: y = k (x) x, kernels "generated according to
// [58]", Schmidt et al. CVPR 2013: a random camera trajectory through a few points joined by a
// smooth curve, rasterised with sub-pixel accuracy, lightly smoothed and normalised).
//   kernel (motion_kernel): `points` control points drawn uniformly in a square whose side is
//       drawn from `length` (px), joined in order by a Catmull-Rom spline sampled densely and
//       splatted bilinearly onto a K x K grid (K = kernel_size, odd), shifted so that its centre
//       of mass sits at the centre pixel, Gaussian-smoothed with `smooth` px (0 = none), clipped
//       to >= 0 and normalised to sum 1.
//   I = reflect-pad by (K-1)/2, then per-channel cross-correlation with k — exactly what the
//       "blur" physics operator (losses/physics.h) computes on G(y), so H(B) = I — plus Gaussian
//       noise of std `noise` (default 0; clipped to [0, 1] when > 0).
// Fields: background B, input I, blur_kernel (1 x K x K, sums to 1), noise = 0.5 + (I - B) / 2
// (in [-1, 1] model space the signed residual I - B). [synth.blur_motion] sets the ranges.
#include "data/synthesis.h"

namespace dmgn::data {

struct MotionBlurOptions {
  int kernel_size = 21;
  int points = 6;
  double length_lo = 5, length_hi = 17;
  double smooth = 0.5;
  double noise = 0;
  static MotionBlurOptions from_config(const Config& full);
};

// A K x K CV_32FC1 motion kernel (non-negative, sums to 1) drawn from rng.
cv::Mat motion_kernel(const MotionBlurOptions& o, Rng& rng);

// Reflect-padded (BORDER_REFLECT_101, torch's "reflect") cross-correlation of an RGB float
// image with kernel k (odd size, smaller than twice the image side).
cv::Mat blur_reflect(const cv::Mat& image, const cv::Mat& k);

class MotionBlur final : public Synthesis {
 public:
  explicit MotionBlur(MotionBlurOptions o) : o_(o) {}
  SynthOutput synthesize(const SynthInput& in, Rng& rng) const override;
  std::string task() const override { return "blur"; }
  std::string name() const override { return "blur_motion"; }

 private:
  MotionBlurOptions o_;
};

void register_blur_synth();

}  // namespace dmgn::data
