#include "data/builtins.h"

#include "data/builtin.h"
#include "data/synth_reflection.h"

namespace dmgn::data {

void register_builtins() {
  register_reflection_synths();
  register_builtin_dataset();
}

}  // namespace dmgn::data
