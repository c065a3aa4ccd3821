#pragma once
// Rain streak synthesis (task "rain"): a streak layer rendered from motion-blurred sparse noise,
// the recipe behind the synthetic deraining sets (Rain100L / Rain100H of Yang et al., "Deep
// joint rain detection and removal from a single image", CVPR 2017), added to the clean photo.
// Inputs: CV_32FC3 RGB in [0, 1]; any size.
//
// One streak layer (render_streaks), for one drawn StreakLayerParams:
//   1. seeds: on a canvas padded by the kernel radius on every side (streaks enter from outside
//      the frame, so the border is as rainy as the centre), every pixel seeds a streak with
//      probability `density`; a seed's brightness is intensity * (0.5 + 0.5 u), u ~ U[0, 1)
//      (drops at different distances). All drawn from Rng(seed), canvas row-major.
//   2. the streak (streak_kernel): an anti-aliased line of `length` px through the centre at
//      `angle` degrees from vertical (positive: the top leans right, clockwise on screen),
//      8 samples per px splatted bilinearly; widened by a Gaussian of sigma `width` px (0 = a
//      1 px line); scaled so its largest value is 1 (an isolated streak peaks at its seed's
//      brightness); entries below 1e-3 dropped. It is the motion-blur kernel of the recipe.
//   3. the layer = the streak placed at every seed, summed (overlaps add), cropped to the
//      image: exactly the motion blur of the (widened) seed noise, and exactly 0 off streaks.
// Composition (synthesize_rain), S = the sum of all layers, white (the same in R, G, B):
//   I = (1 - v) min(1, B + S) + v            per channel and pixel; v = veil
// The veil is the atmospheric term of JORDER's heavy-rain model O = a (B + sum S) + (1 - a) A
// with the atmospheric light A = 1 (white) and v = 1 - a; with A = 1 the noise is never
// negative. Noise ground truth N = I - B: I = B + N (to float rounding), N in [0, 1].
// density = 0 (or intensity = 0) and veil = 0 give I = B exactly.
//
// Registry "synth" (every parameter drawn uniformly from its range, per sample; the layer count
// uniformly from its integer range; the scene draws one base angle (the wind) and every layer
// deviates from it by up to angle_spread degrees, so several layers rain in several nearby
// directions):
//   rain_light — Rain100L-like: one layer of sparse, thin, bright streaks, one direction, no
//                veil.
//   rain_heavy — Rain100H-like: 3 to 5 layers of dense, long, wide, semi-transparent streaks
//                within +-10 degrees of the scene's angle, a white veil of 0.05 to 0.2.
//   rain       — the ranges of [synth.rain] (defaults = rain_heavy's).
// The ranges are in RainRanges::light() / heavy() (synth_rain.cpp) and datasets/README.md.
#include <cstdint>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/rng.h"
#include "data/synthesis.h"

namespace dmgn::data {

// One streak layer's draw.
struct StreakLayerParams {
  double angle = 0.0;      // degrees from vertical; positive: the top leans right
  double length = 20.0;    // streak length in px
  double width = 0.0;      // Gaussian widening sigma in px; 0 = a 1 px anti-aliased line
  double density = 0.01;   // probability that a pixel seeds a streak, in [0, 1]
  double intensity = 0.8;  // peak brightness of the brightest streak, in [0, 1]
  uint64_t seed = 0;       // seed positions and brightness: Rng(seed)
};

// The random draws of one call. Separated from the arithmetic so a draw can be replayed.
struct RainParams {
  std::vector<StreakLayerParams> layers;
  double veil = 0.0;  // v in [0, 1): white atmospheric veil
};

// A closed interval [lo, hi] for one parameter.
struct RainRange {
  double lo = 0.0, hi = 0.0;
};

// The ranges the parameters are drawn from.
struct RainRanges {
  int64_t layers_lo = 1, layers_hi = 1;  // number of streak layers
  RainRange angle;                       // the scene's base angle
  double angle_spread = 0.0;             // each layer: base + U[-spread, spread] degrees
  RainRange length, width, density, intensity, veil;

  static RainRanges light();  // rain_light
  static RainRanges heavy();  // rain_heavy
  // [synth.rain] of the full config, validated.
  static RainRanges from_config(const Config& full);
  // ConfigError naming `<prefix>.<key>` for a range with lo > hi or outside its bounds:
  // layers in [1, 16], angle in [-90, 90], angle_spread in [0, 90], length in [0, 200],
  // width in [0, 10], density in [0, 1], intensity in [0, 1], veil in [0, 1).
  void validate(const std::string& prefix) const;
};

// Draw order: the layer count, the base angle; per layer the angle offset, length, width,
// density, intensity, seed (64 bits of the engine); then veil.
RainParams draw_rain_params(const RainRanges& ranges, Rng& rng);

// A streak kernel: offsets from the centre and values (max 1).
struct StreakKernel {
  struct Tap {
    int dy, dx;
    float value;
  };
  std::vector<Tap> taps;
  int radius = 0;  // every |dy|, |dx| <= radius
};
StreakKernel streak_kernel(double length, double angle_deg, double width);

// One streak layer: CV_32FC1 rows x cols, >= 0 (overlapping streaks may sum above 1).
cv::Mat render_streaks(int rows, int cols, const StreakLayerParams& p);

// Throws DataError for a background that is not CV_32FC3 or parameters out of range.
SynthOutput synthesize_rain(const cv::Mat& background, const RainParams& p);

class RainSynthesis final : public Synthesis {
 public:
  RainSynthesis(std::string name, RainRanges ranges);
  SynthOutput synthesize(const SynthInput& in, Rng& rng) const override;
  std::string task() const override { return "rain"; }
  std::string name() const override { return name_; }
  const RainRanges& ranges() const { return ranges_; }

 private:
  std::string name_;
  RainRanges ranges_;
};

// Registers "rain_light", "rain_heavy" and "rain" in synths().
void register_rain_synths();

}  // namespace dmgn::data
