#pragma once
// A synthesis turns two clean layers into a training triple: background T, noise layer R and
// the observed image I (for reflections: I = blend of T and a transformed R).
// Registry "synth": factory(full config) -> SynthPtr. Implementations: data/synth_reflection.h.
// synthesize() must draw randomness only from the Rng it is given (deterministic per seed)
// and be safe to call from several threads at once (implementations hold no mutable state).
#include <memory>
#include <opencv2/core.hpp>
#include <string>

#include "core/config.h"
#include "core/registry.h"
#include "core/rng.h"

namespace dmgn::data {

// Every image: CV_32FC3 RGB, same size as the inputs.
struct SynthOutput {
  cv::Mat background;  // T, the ground truth the model must recover
  cv::Mat reflection;  // the noise layer as it appears in the blend (noise ground truth)
  cv::Mat blend;       // the observed input I
};

class Synthesis {
 public:
  virtual ~Synthesis() = default;
  // t, r: CV_32FC3 RGB in [0, 1], same size. Throws DataError on bad input.
  virtual SynthOutput synthesize(const cv::Mat& t, const cv::Mat& r, Rng& rng) const = 0;
  // Largest accepted height and width in pixels; 0 = no limit.
  virtual int max_size() const { return 0; }
  virtual std::string name() const = 0;
};

using SynthPtr = std::shared_ptr<const Synthesis>;
using SynthRegistry = Registry<SynthPtr, const Config&>;
SynthRegistry& synths();

}  // namespace dmgn::data
