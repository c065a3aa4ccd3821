#include "data/bicubic.h"

#include <fmt/format.h>

#include <cmath>
#include <vector>

#include "core/error.h"

namespace dmgn::data {
namespace {

// Keys' cubic convolution kernel with a = -0.5 (Catmull-Rom; MATLAB's "cubic").
double cubic(double x) {
  const double a = -0.5, ax = std::abs(x);
  if (ax <= 1) return (a + 2) * ax * ax * ax - (a + 3) * ax * ax + 1;
  if (ax < 2) return a * ax * ax * ax - 5 * a * ax * ax + 8 * a * ax - 4 * a;
  return 0;
}

// MATLAB's symmetric index mirroring into [0, n).
int64_t mirror(int64_t i, int64_t n) {
  const int64_t period = 2 * n;
  i = ((i % period) + period) % period;
  return i < n ? i : period - 1 - i;
}

}  // namespace

BicubicConvention bicubic_convention(const std::string& s, const std::string& key) {
  if (s == "reference") return BicubicConvention::reference;
  if (s == "matlab") return BicubicConvention::matlab;
  throw ConfigError(fmt::format("config key '{}': '{}' is not one of reference, matlab", key, s));
}

torch::Tensor bicubic_matrix(int64_t in, int64_t out, BicubicConvention c, torch::TensorOptions options) {
  if (in < 1 || out < 1) throw Error(fmt::format("bicubic: sizes must be >= 1 (from {} to {})", in, out));
  std::vector<double> m(static_cast<size_t>(out * in), 0.0);
  const double scale = static_cast<double>(out) / static_cast<double>(in);
  for (int64_t i = 0; i < out; ++i) {
    double* row = m.data() + i * in;
    if (c == BicubicConvention::reference) {
      const double src = static_cast<double>(i) * static_cast<double>(in) / static_cast<double>(out);
      const auto base = static_cast<int64_t>(std::floor(src));
      const double t = src - static_cast<double>(base);
      for (int64_t k = -1; k <= 2; ++k) {
        const int64_t j = std::clamp<int64_t>(base + k, 0, in - 1);
        row[j] += cubic(static_cast<double>(k) - t);
      }
      continue;
    }
    // MATLAB imresize: contributions() with the kernel stretched when shrinking.
    const double kscale = scale < 1 ? scale : 1.0;
    const double width = 4.0 / kscale;
    const double u = (static_cast<double>(i) + 0.5) / scale - 0.5;  // 0-based source centre
    const auto left = static_cast<int64_t>(std::floor(u - width / 2));
    const auto taps = static_cast<int64_t>(std::ceil(width)) + 2;
    double sum = 0;
    std::vector<std::pair<int64_t, double>> w;
    for (int64_t k = 0; k < taps; ++k) {
      const int64_t j = left + k;
      const double v = kscale * cubic(kscale * (u - static_cast<double>(j)));
      if (v == 0) continue;
      w.emplace_back(mirror(j, in), v);
      sum += v;
    }
    for (const auto& [j, v] : w) row[j] += v / sum;
  }
  return torch::tensor(m, torch::kFloat64).view({out, in}).to(options);
}

torch::Tensor bicubic_resize(const torch::Tensor& x, int64_t out_h, int64_t out_w, BicubicConvention c) {
  if (x.dim() != 4) throw Error(fmt::format("bicubic: expected N x C x H x W, got {} dimensions", x.dim()));
  const auto opts = x.options();
  const auto rh = bicubic_matrix(x.size(2), out_h, c, opts);
  const auto rw = bicubic_matrix(x.size(3), out_w, c, opts);
  return torch::matmul(torch::matmul(rh, x), rw.t());
}

}  // namespace dmgn::data
