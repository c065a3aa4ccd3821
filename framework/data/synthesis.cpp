#include "data/synthesis.h"

namespace dmgn::data {

SynthRegistry& synths() {
  static SynthRegistry registry("synth");
  return registry;
}

}  // namespace dmgn::data
