#include "data/synthesis.h"

#include <fmt/format.h>

#include "core/error.h"

namespace dmgn::data {

std::pair<double, double> config_range(const Config& c, const char* key) {
  const auto v = c.get_floats(key);
  if (v.size() != 2 || v[0] > v[1])
    throw ConfigError(fmt::format("config key '{}.{}' needs [lo, hi] with lo <= hi", c.prefix(), key));
  return {v[0], v[1]};
}

SynthRegistry& synths() {
  static SynthRegistry registry("synth");
  return registry;
}

}  // namespace dmgn::data
