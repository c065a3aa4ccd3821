#pragma once
// Mixed degradations (task "mixed"): MBN's mixed test and training data (Deng et al.,
// supplementary C): up to four factors applied to one photo, ALWAYS in the order
//   haze -> rain streaks -> motion blur -> JPEG
// whatever order [synth.mixed] factors lists them in. Per sample, from the Rng given only:
//   haze  RESIDE-beta's (OTS) model I = J t + A (1 - t), t = exp(-beta d): a grey airlight A
//         drawn from haze_airlight ({1, 0.95, 0.9, 0.8, 0.85}) and beta from haze_beta ({0.2,
//         0.16, 0.12, 0.1, 0.08}), as RESIDE's v1 / v2. Depth as synth "haze" with its default
//         options (data/synth_haze.h haze_depth: SynthInput::depth divided by its maximum when
//         given, else the ramp + dark-channel estimate, both in [0, 1], 1 = farthest), times
//         depth_scale metres (default 10: our choice; RESIDE's depths are metric, ours are not).
//   rain  "following a GIMP tutorial: motion-blurring Gaussian noise" (gimp_rain_layer): a
//         black grey layer with Gaussian noise N(0, level) per pixel (one value per pixel)
//         clipped to [0, 1], then GIMP 2.10's linear motion blur (GEGL's motion blur: the mean
//         of ceil(length) + 1 bilinear samples on a line of `length` px centred on the pixel,
//         direction (cos a, sin a) with x right and y down, so a = 90 is vertical), composited
//         with the "screen" mode: I = 1 - (1 - I)(1 - R). level from rain_level ({0.55, 0.65,
//         0.7, 0.8}), length from rain_length ({10, 20, 35, 50}), a from rain_angle ({110,
//         105, 100, 90, 85, 80, 70} degrees). An approximation of a manual GIMP process: the
//         tutorial video's exact layer settings (noise type, any levels/threshold step, layer
//         opacity) are unknown; no contrast stretch is applied (none is in the paper), so the
//         layer is a faint streaked veil of mean ~0.2.
//   blur  "by Hendrycks et al.'s approach" (ImageNet-C motion_blur = Wand's motion_blur, i.e.
//         ImageMagick's MotionBlurImage(radius, sigma, angle)): (radius, sigma) drawn as a pair
//         from blur_radius / blur_sigma ({(10, 1.5), (10, 2.5), (12, 3), (12, 3.5), (13, 8),
//         (15, 12)}), angle uniform in blur_angle ([-45, 45] degrees). The kernel
//         (imagemagick_motion_kernel), as ImageMagick 6/7 effect.c:
//           width = 2 ceil(radius) + 1 (GetOptimalKernelWidth1D for radius > 0)
//           w_i = exp(-i^2 / (2 sigma^2)) / sum, i = 0 .. width - 1 (ONE-sided: i = 0 is the
//                 pixel itself and carries the largest weight)
//           offset_i = (ceil(i cos(angle) - 0.5), ceil(i sin(angle) - 0.5))   (x right, y down)
//           out(x, y) = sum_i w_i in(x + offset_i.x, y + offset_i.y)
//         nearest (integer) sampling as ImageMagick's, borders clamped (ImageMagick's default
//         "edge" virtual pixels). A bright point becomes a streak on one side of it only. Not
//         reproduced: ImageMagick's Q16 quantisation of the result (we stay in float) and the
//         PNG round trip ImageNet-C wraps around Wand.
//   jpeg  quality uniform integer in jpeg_quality ([15, 50]), jpeg_roundtrip (data/synth_jpeg.h).
// random = false: every factor of `factors`. random = true: X uniform in {1 .. len(factors)},
// then X distinct factors of `factors` (the paper's "random combinations" sets).
// Draw order: the factor choice (random only), then per applied factor in the order above: haze
// (airlight index, beta index), rain (level, length, angle indices, 64-bit noise seed), blur
// (pair index, angle), jpeg (quality).
// Fields: background = B quantised to 8 bits (as synth "jpeg", data/synth_jpeg.h; the factors
// degrade that), input I, noise = 0.5 + (I - B) / 2 (as blur_motion). Nothing in `extra` (a
// random combination would give samples different fields). Inputs: CV_32FC3 RGB in [0, 1];
// with "blur" among the factors both sides must be at least the longest blur kernel's width
// (2 ceil(max radius) + 1 = 31 px with the defaults), else DataError.
#include <cstdint>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/rng.h"
#include "data/synthesis.h"

namespace dmgn::data {

// The factors in the order they are always applied.
inline const std::vector<std::string>& mixed_factor_order() {
  static const std::vector<std::string> order = {"haze", "rain", "blur", "jpeg"};
  return order;
}

struct MixedOptions {
  std::vector<std::string> factors = {"haze", "rain", "blur", "jpeg"};
  bool random = false;
  std::vector<double> blur_radius = {10, 10, 12, 12, 13, 15};     // paired with blur_sigma
  std::vector<double> blur_sigma = {1.5, 2.5, 3, 3.5, 8, 12};
  double blur_angle_lo = -45, blur_angle_hi = 45;                // degrees
  std::vector<double> rain_level = {0.55, 0.65, 0.7, 0.8};       // noise std
  std::vector<double> rain_length = {10, 20, 35, 50};            // px
  std::vector<double> rain_angle = {110, 105, 100, 90, 85, 80, 70};  // degrees, 90 = vertical
  int jpeg_quality_lo = 15, jpeg_quality_hi = 50;
  std::vector<double> haze_airlight = {1, 0.95, 0.9, 0.8, 0.85};
  std::vector<double> haze_beta = {0.2, 0.16, 0.12, 0.1, 0.08};  // per metre
  double depth_scale = 10;                                       // metres at depth 1

  // [synth.mixed] of the full config, validated.
  static MixedOptions from_config(const Config& full);
  // ConfigError naming `<prefix>.<key>`: factors a non-empty list of distinct names among
  // haze, rain, blur, jpeg; every list non-empty; blur_radius and blur_sigma of equal length,
  // radius in [1, 100], sigma in (0, 100]; blur_angle [lo, hi]; rain_level in (0, 10],
  // rain_length in [1, 500]; jpeg_quality [lo, hi] within [1, 100]; haze_airlight in [0, 1],
  // haze_beta in [0, 10], depth_scale in (0, 1000]; every value finite.
  void validate(const std::string& prefix) const;
  // The smallest side the syntheses accept: 2 ceil(max radius) + 1 with "blur", else 1.
  int min_side() const;
};

// The factors one sample gets, in the order of application (mixed_factor_order): all of
// options.factors, or with options.random a random non-empty subset as above.
std::vector<std::string> mixed_factors_for(const MixedOptions& options, Rng& rng);

// ImageMagick's motion-blur kernel (see above): weights (sum 1, non-increasing) and integer
// sample offsets (x right, y down), offset 0 = (0, 0).
struct MotionBlurTaps {
  std::vector<double> weights;
  std::vector<cv::Point> offsets;
};
MotionBlurTaps imagemagick_motion_kernel(double radius, double sigma, double angle_deg);
// out(x, y) = sum_i w_i in(clamp(x + dx_i), clamp(y + dy_i)), per channel; CV_32FC3 in and out.
cv::Mat imagemagick_motion_blur(const cv::Mat& rgb, double radius, double sigma, double angle_deg);

// The GIMP-tutorial rain layer R (see above): CV_32FC1 rows x cols in [0, 1]; the noise is drawn
// from Rng(seed) on a canvas padded by the blur's reach (row-major, Box-Muller), so the border
// is blurred like the centre.
cv::Mat gimp_rain_layer(int rows, int cols, double level, double length, double angle_deg, uint64_t seed);
// Screen composite of a grey layer over an RGB image: 1 - (1 - I)(1 - R).
cv::Mat screen_blend(const cv::Mat& rgb, const cv::Mat& layer);

// The haze factor: J t + A (1 - t) with t = exp(-beta * depth_scale * depth01), A grey;
// depth01 CV_32FC1, J's size, >= 0.
cv::Mat mixed_haze(const cv::Mat& rgb, const cv::Mat& depth01, double airlight, double beta, double depth_scale);

class MixedSynthesis final : public Synthesis {
 public:
  explicit MixedSynthesis(MixedOptions options);
  SynthOutput synthesize(const SynthInput& in, Rng& rng) const override;
  std::string task() const override { return "mixed"; }
  std::string name() const override { return "mixed"; }
  const MixedOptions& options() const { return options_; }

 private:
  MixedOptions options_;
};

// Registers "mixed" in synths().
void register_mixed_synth();

}  // namespace dmgn::data
