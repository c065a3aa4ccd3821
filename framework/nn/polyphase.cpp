#include "nn/polyphase.h"

#include <algorithm>
#include <cmath>

namespace dmgn::nn {

PolyphaseBasis polyphase_basis(int64_t s, int64_t k, int64_t dil, int64_t pad) {
  TORCH_CHECK(s >= 1 && k >= 1 && dil >= 1, "polyphase_basis: bad scale, kernel or dilation");
  // Offset of the low-resolution sample below phase phi's tap at o, relative to i, and its weight.
  const auto source = [&](int64_t phi, int64_t t) {
    const double src = (static_cast<double>(phi + t * dil - pad) + 0.5) / static_cast<double>(s) - 0.5;
    const double a0 = std::floor(src);
    return std::pair<int64_t, double>{static_cast<int64_t>(a0), src - a0};
  };
  int64_t lo = 0, hi = 0;
  bool first = true;
  for (int64_t phi = 0; phi < s; ++phi)
    for (int64_t t = 0; t < k; ++t) {
      const int64_t a0 = source(phi, t).first;
      lo = first ? a0 : std::min(lo, a0);
      hi = first ? a0 + 1 : std::max(hi, a0 + 1);
      first = false;
    }
  PolyphaseBasis b;
  b.a_min = lo;
  b.span = hi - lo + 1;
  b.weights = torch::zeros({s, k, b.span}, torch::kDouble);
  auto w = b.weights.accessor<double, 3>();
  for (int64_t phi = 0; phi < s; ++phi)
    for (int64_t t = 0; t < k; ++t) {
      const auto [a0, l] = source(phi, t);
      w[phi][t][a0 - lo] += 1.0 - l;
      w[phi][t][a0 + 1 - lo] += l;
    }
  return b;
}

torch::Tensor polyphase_mix(const PolyphaseBasis& basis) {
  const auto& B = basis.weights;  // [s, k, K]
  const int64_t s = B.size(0), k = B.size(1), K = B.size(2);
  // [phi_y, phi_x, ty, tx, a, b] = By[phi_y, ty, a] Bx[phi_x, tx, b]
  const auto m = B.view({s, 1, k, 1, K, 1}) * B.view({1, s, 1, k, 1, K});
  return m.reshape({s * s, k * k, K, K});
}

torch::Tensor conv_of_upsampled_phases(const torch::Tensor& f, const torch::Tensor& weight, int64_t s,
                                       const PolyphaseBasis& basis, const torch::Tensor& mix) {
  const int64_t n = f.size(0), h = f.size(2), w = f.size(3);
  const int64_t out = weight.size(0), c = weight.size(1), k = weight.size(2);
  const int64_t before = -basis.a_min, after = basis.a_min + basis.span - 1;
  TORCH_CHECK(before >= 0 && after >= 0, "conv_of_upsampled: the basis must span offset 0");
  TORCH_CHECK(mix.size(0) == s * s && mix.size(1) == k * k, "conv_of_upsampled: mix ", mix.sizes(),
              " does not fit scale ", s, " with ", k, "x", k, " taps");
  // Stage 1: every tap's 1x1 product, grouped by output channel ([out * k * k] channels).
  const auto taps = weight.permute({0, 2, 3, 1}).reshape({out * k * k, c, 1, 1});
  const auto t = torch::conv2d(torch::replication_pad2d(f, {before, after, before, after}), taps);
  // Stage 2: per output channel, its k * k tap maps to its s * s phases: the output channels as
  // a batch of one dense conv.
  const auto z = torch::conv2d(t.contiguous().view({n * out, k * k, h + before + after, w + before + after}), mix);
  return z.view({n, out, s, s, h, w}).permute({0, 1, 4, 2, 5, 3});  // [n, out, h, phi_y, w, phi_x]
}

torch::Tensor conv_of_upsampled(const torch::Tensor& f, const torch::Tensor& weight, int64_t s,
                                const PolyphaseBasis& basis, const torch::Tensor& mix) {
  return conv_of_upsampled_phases(f, weight, s, basis, mix)
      .reshape({f.size(0), weight.size(0), f.size(2) * s, f.size(3) * s});
}

LineSampling LineSampling::to(const torch::Device& device) const {
  return {lower.to(device), upper.to(device), fraction.to(device)};
}

LineSampling line_sampling(int64_t in, int64_t out, const std::vector<int64_t>& index) {
  // PyTorch's source index for align_corners = false: scale (in / out) * (dst + 0.5) - 0.5,
  // clamped at 0; the upper neighbour clamped at in - 1.
  const double scale = static_cast<double>(in) / static_cast<double>(out);
  std::vector<int64_t> lower, upper;
  std::vector<float> fraction;
  for (int64_t q : index) {
    TORCH_CHECK(q >= 0 && q < out, "line_sampling: line ", q, " outside [0, ", out, ")");
    const double src = std::max(0.0, scale * (static_cast<double>(q) + 0.5) - 0.5);
    const auto i0 = static_cast<int64_t>(src);
    lower.push_back(i0);
    upper.push_back(i0 < in - 1 ? i0 + 1 : i0);
    fraction.push_back(static_cast<float>(src - static_cast<double>(i0)));
  }
  return {torch::tensor(lower, torch::kLong), torch::tensor(upper, torch::kLong), torch::tensor(fraction)};
}

torch::Tensor upsampled_lines(const torch::Tensor& f, int64_t dim, const LineSampling& lines,
                              const LineSampling& across) {
  TORCH_CHECK(dim == 2 || dim == 3, "upsampled_lines: dim must be 2 (rows) or 3 (columns)");
  const auto lerp = [&](const torch::Tensor& x, int64_t d, const LineSampling& at) {
    std::vector<int64_t> shape{1, 1, 1, 1};
    shape[d] = at.lower.numel();
    const auto l = at.fraction.view(shape);
    return x.index_select(d, at.lower) * (1 - l) + x.index_select(d, at.upper) * l;
  };
  // The resize is separable: these lines along dim, then every line of the other dimension.
  return lerp(lerp(f, dim, lines), dim == 2 ? 3 : 2, across);
}

}  // namespace dmgn::nn
