#include "data/builtins.h"

#include "data/benchmarks.h"
#include "data/builtin.h"
#include "data/multitask.h"
#include "data/synth_blur.h"
#include "data/synth_haze.h"
#include "data/synth_jpeg.h"
#include "data/synth_linear.h"
#include "data/synth_mixed.h"
#include "data/synth_rain.h"
#include "data/synth_reflection.h"
#include "data/synth_sr.h"

namespace dmgn::data {

void register_builtins() {
  register_reflection_synths();
  register_linear_blend_synth();
  register_rain_synths();
  register_haze_synths();
  register_blur_synth();
  register_sr_synth();
  register_jpeg_synth();
  register_mixed_synth();
  register_builtin_dataset();
  register_multitask_dataset();
  register_adapters();
}

}  // namespace dmgn::data
