#pragma once
// Deterministic randomness for data order, augmentation and synthesis.
// One run seed drives everything; independent streams are derived with derive_seed()
// so that adding a consumer never shifts another consumer's numbers.
#include <cstdint>
#include <random>
#include <string_view>

namespace dmgn {

// SplitMix64-based mixing of a base seed with stream identifiers.
uint64_t mix_seed(uint64_t a, uint64_t b);
uint64_t derive_seed(uint64_t seed, std::string_view stream, uint64_t index = 0);

class Rng {
 public:
  explicit Rng(uint64_t seed) : engine_(seed) {}
  // Uniform in [0, 1).
  double uniform() { return std::uniform_real_distribution<double>(0.0, 1.0)(engine_); }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  // Uniform integer in [lo, hi] (both inclusive).
  int64_t integer(int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(engine_);
  }
  bool coin(double p_true = 0.5) { return uniform() < p_true; }
  std::mt19937_64& engine() { return engine_; }

 private:
  std::mt19937_64 engine_;
};

}  // namespace dmgn
