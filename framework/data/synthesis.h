#pragma once
// A synthesis turns clean layers into a training triple: the background B (ground truth),
// the noise layer N as it appears in the observation, and the observed image I.
//   reflection (data/synth_reflection.h): I = blend of B and a transformed second photo;
//   rain       (data/synth_rain.h):       I = B with a rendered streak layer;
//   haze       (data/synth_haze.h):       I = B t + A (1 - t), t = exp(-beta d).
// Registry "synth": factory(full config) -> SynthPtr.
// synthesize() must draw randomness only from the Rng it is given (deterministic per seed)
// and be safe to call from several threads at once (implementations hold no mutable state).
#include <map>
#include <memory>
#include <opencv2/core.hpp>
#include <string>

#include "core/config.h"
#include "core/registry.h"
#include "core/rng.h"

namespace dmgn::data {

// What a synthesis works from. Images: CV_32FC3 RGB in [0, 1], all the same size.
struct SynthInput {
  cv::Mat background;  // the clean image B
  cv::Mat layer;       // a second photo (the reflection layer); only when needs_layer()
  cv::Mat depth;       // CV_32FC1 scene depth, any positive scale (haze); empty = the
                       // synthesis's documented fallback
};

// Every image: CV_32FC3 RGB, the size of the input.
struct SynthOutput {
  cv::Mat background;  // B, the ground truth the model must recover
  cv::Mat noise;       // the noise layer as it appears in I (noise ground truth)
  cv::Mat input;       // the observed image I
  // Whatever else the synthesis knows, by sample field name (data/dataset.h data::field):
  // reflection layer, transmission, depth (CV_32FC1, the input's size), airlight (1x1 CV_32FC3),
  // blur kernel (CV_32FC1, KxK). The dataset turns each into a sample tensor.
  std::map<std::string, cv::Mat> extra;
};

class Synthesis {
 public:
  virtual ~Synthesis() = default;
  // Throws DataError on bad input (naming what is wrong).
  virtual SynthOutput synthesize(const SynthInput& in, Rng& rng) const = 0;
  // True when synthesize() needs SynthInput::layer (a second photo).
  virtual bool needs_layer() const { return false; }
  // The task it makes data for: "reflection" | "rain" | "haze" | "blur" | "sr" | "jpeg" | "mixed".
  virtual std::string task() const = 0;
  // Largest accepted height and width in pixels; 0 = no limit.
  virtual int max_size() const { return 0; }
  virtual std::string name() const = 0;
};

// A synthesis key holding a range [lo, hi] (lo <= hi) in the sub-config `c`; ConfigError naming
// the full key otherwise.
std::pair<double, double> config_range(const Config& c, const char* key);

using SynthPtr = std::shared_ptr<const Synthesis>;
using SynthRegistry = Registry<SynthPtr, const Config&>;
SynthRegistry& synths();

}  // namespace dmgn::data
