#include "core/rng.h"

namespace dmgn {

uint64_t mix_seed(uint64_t a, uint64_t b) {
  uint64_t z = a + 0x9E3779B97F4A7C15ULL * (b + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

uint64_t derive_seed(uint64_t seed, std::string_view stream, uint64_t index) {
  uint64_t h = 1469598103934665603ULL;  // FNV-1a of the stream name
  for (unsigned char c : stream) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return mix_seed(mix_seed(seed, h), index);
}

}  // namespace dmgn
