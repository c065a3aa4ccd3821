#pragma once
// Haze synthesis (task "haze"): the atmospheric scattering model (Koschmieder; McCartney 1976)
// used to synthesise RESIDE (Li et al., "Benchmarking single-image dehazing and beyond", TIP
// 2019) and DCPDN's TestA:
//   I(x) = J(x) t(x) + A (1 - t(x)),   t(x) = exp(-beta d(x))
// J = the clean photo (the background), A = the airlight, an RGB colour per sample, beta = the
// scattering coefficient per sample, d = scene depth in the units below. Inputs: CV_32FC3 RGB
// in [0, 1]; any size.
// Noise ground truth: the airlight veil N = A (1 - t), so I = J t + N (to float rounding);
// I and N lie in [0, 1]. beta = 0 (t = 1) gives I = J exactly and N = 0.
//
// Depth units. beta's range assumes d in [0, 1], 1 = the farthest point of the scene (the
// RESIDE-indoor convention: NYU depth divided by its maximum, beta in [0.6, 1.8], so the far
// transmission exp(-beta) lies in [0.17, 0.55]).
// Depth source ([synth.haze] depth):
//   "auto"     SynthInput::depth when given, else the estimate below;
//   "estimate" always the estimate (a given depth is ignored);
//   "uniform"  d = 1 everywhere (homogeneous haze, t = exp(-beta)).
// A given depth (CV_32FC1, the image's size, finite, >= 0) is scaled by [synth.haze]
// depth_scale: "max" divides by its maximum (it must not be all zero), "none" takes it as given
// (already in the units beta assumes).
// Estimate (estimate_depth), deterministic, from the photo alone, smooth, in [near, 1]:
//   ramp(y) = 1 - y / (rows - 1)     a ground plane receding to a horizon at the top: 1 at the
//                                    top row, 0 at the bottom row
//   dark    = the dark channel (He et al. 2009): min over R, G, B, then a min filter over a
//             square patch of side max(3, short side / 16) rounded up to odd; high for bright
//             colourless regions (sky, which is far), low for near, saturated or dark objects
//   d = near + (1 - near) * clamp(G * (w ramp + (1 - w) dark), 0, 1)
//   with w = 0.6, near = 0.2 and G a Gaussian blur of sigma = short side / 8, computed on a
//   copy shrunk to 32 px on the short side (INTER_AREA; images with a short side of at most
//   32 px are not shrunk), reflect-101 border, enlarged back bilinearly. So haze thickens
//   towards the top and over sky, never vanishes in front, and follows no fine texture.
//
// Registry "synth": "haze" — beta, airlight and tint from [synth.haze], per sample:
//   beta ~ U[beta], a ~ U[airlight], A_c = clamp(a (1 + u_c), 0, 1), u_c ~ U[-tint, tint] per
//   channel (tint = 0: a grey airlight as in RESIDE). Defaults: RESIDE-indoor beta [0.6, 1.8]
//   and A [0.7, 1.0], tint 0.05.
#include <opencv2/core.hpp>
#include <string>

#include "core/config.h"
#include "core/rng.h"
#include "data/synthesis.h"

namespace dmgn::data {

// The random draws of one call.
struct HazeParams {
  double beta = 1.0;                        // scattering coefficient
  cv::Vec3d airlight = cv::Vec3d(1, 1, 1);  // A (RGB), each in [0, 1]
};

struct HazeOptions {
  double beta_lo = 0.6, beta_hi = 1.8;          // synth.haze.beta
  double airlight_lo = 0.7, airlight_hi = 1.0;  // synth.haze.airlight
  double tint = 0.05;                           // synth.haze.tint
  std::string depth = "auto";                   // synth.haze.depth: auto | estimate | uniform
  std::string depth_scale = "max";              // synth.haze.depth_scale: max | none

  // [synth.haze] of the full config, validated.
  static HazeOptions from_config(const Config& full);
  // ConfigError naming `<prefix>.<key>`: beta in [0, 10], airlight in [0, 1], tint in [0, 1],
  // lo <= hi, depth and depth_scale one of the names above.
  void validate(const std::string& prefix) const;
};

// Draw order: beta, a, then u_R, u_G, u_B.
HazeParams draw_haze_params(const HazeOptions& options, Rng& rng);

// The depth estimate described above: CV_32FC1, the image's size, in [0.2, 1].
cv::Mat estimate_depth(const cv::Mat& background);

// The depth synthesize() uses (in beta's units) for these options: DataError for a given depth
// that is not CV_32FC1, not the image's size, negative, not finite, or all zero with "max".
cv::Mat haze_depth(const SynthInput& in, const HazeOptions& options);

// t = exp(-beta d), CV_32FC1.
cv::Mat transmission(const cv::Mat& depth, double beta);

// I = J t + A (1 - t) for a depth in beta's units (CV_32FC1, J's size, >= 0).
SynthOutput synthesize_haze(const cv::Mat& background, const cv::Mat& depth, const HazeParams& p);

class HazeSynthesis final : public Synthesis {
 public:
  explicit HazeSynthesis(HazeOptions options);
  SynthOutput synthesize(const SynthInput& in, Rng& rng) const override;
  std::string task() const override { return "haze"; }
  std::string name() const override { return "haze"; }
  const HazeOptions& options() const { return options_; }

 private:
  HazeOptions options_;
};

// Registers "haze" in synths().
void register_haze_synths();

}  // namespace dmgn::data
