#pragma once
// sr_bicubic — x`scale` super-resolution data as Physics-GAN trains it (Pan et al. TPAMI 2020,
// Sec. 4: y~ = B(G(x)), B "the down-sampling and filtering operator", bicubic): the observed
// image is the clean one bicubic-downscaled by `scale` and upscaled back to its size,
// I = up(down(B)), so that the generator maps images to images of the same size and the
// "sr_bicubic" physics operator (losses/physics.h) reproduces I from B exactly. Both resamplings
// use data/bicubic.h with `convention` ("reference": the released code's bicubic_interp_2d;
// "matlab": imresize). Sides must be multiples of `scale`.
// Fields: background B, input I, noise = 0.5 + (I - B) / 2 (in [-1, 1] model space the signed
// residual I - B). [synth.sr_bicubic] sets scale and convention; the operator reads the same keys.
#include "data/bicubic.h"
#include "data/synthesis.h"

namespace dmgn::data {

struct SrOptions {
  int64_t scale = 4;
  BicubicConvention convention = BicubicConvention::reference;
  static SrOptions from_config(const Config& full);
};

class SrBicubic final : public Synthesis {
 public:
  explicit SrBicubic(SrOptions o) : o_(o) {}
  SynthOutput synthesize(const SynthInput& in, Rng& rng) const override;
  std::string task() const override { return "sr"; }
  std::string name() const override { return "sr_bicubic"; }

 private:
  SrOptions o_;
};

void register_sr_synth();

}  // namespace dmgn::data
