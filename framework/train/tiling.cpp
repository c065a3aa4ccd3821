#include "train/tiling.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "core/cpu_memory.h"
#include "core/error.h"

namespace dmgn::train {
namespace {

int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

// A deterministic, non-constant image in model space (no RNG draw: the run's streams stay put).
torch::Tensor ramp(int64_t side, torch::Device device, torch::Dtype dtype, torch::MemoryFormat fmt) {
  const auto opts = torch::TensorOptions().dtype(dtype).device(device);
  const auto y = torch::linspace(-1, 1, side, opts).view({1, 1, side, 1});
  const auto x = torch::linspace(-1, 1, side, opts).view({1, 1, 1, side});
  const auto c = torch::tensor({0.3, -0.2, 0.5}, opts).view({1, 3, 1, 1});
  return (0.6 * y * x + 0.3 * torch::sin(7 * x) + c).clamp(-1, 1).contiguous(fmt);
}

}  // namespace

Footprint measure_footprint(models::Model& model, torch::Device device, torch::Dtype dtype,
                            torch::MemoryFormat memory_format) {
  Footprint fp;
  if (!device.is_cpu()) return fp;
  c10::InferenceMode inference;
  const bool was_training = model.is_training();
  model.eval();
  const int64_t m = std::max<int64_t>(1, model.spec().size_multiple);
  const int64_t s1 = round_up(96, m), s2 = round_up(160, m);
  double p1 = 0, p2 = 0;
  try {
    PeakCpuBytes peak;
    if (!peak.counting()) return fp;
    for (const auto& [side, out] : {std::pair<int64_t, double*>{s1, &p1}, {s2, &p2}}) {
      const auto x = ramp(side, device, dtype, memory_format);
      peak.reset();
      { auto o = model.forward(x); }
      *out = static_cast<double>(peak.peak());
    }
  } catch (const std::exception&) {
    if (was_training) model.train();
    return fp;  // the model does not take these sizes: unknown
  }
  if (was_training) model.train();
  const double a1 = static_cast<double>(s1 * s1), a2 = static_cast<double>(s2 * s2);
  fp.per_pixel = std::max(0.0, (p2 - p1) / (a2 - a1));
  fp.fixed = std::max(0.0, p2 - fp.per_pixel * a2);
  fp.known = fp.per_pixel > 0 || fp.fixed > 0;
  return fp;
}

std::optional<TilePlan> plan_tiles(const Footprint& fp, const models::ModelSpec& spec, int64_t h, int64_t w,
                                   double budget) {
  if (spec.receptive_radius < 0) return std::nullopt;
  const int64_t m = std::max<int64_t>(1, spec.size_multiple);
  TilePlan p;
  p.overlap = round_up(spec.receptive_radius, m);
  const int64_t smallest = round_up(16, m);
  int64_t t = round_up(std::max(h, w), m);
  // Largest tile (on the multiple) whose context-padded input fits; halved until it does.
  while (t >= smallest && fp.bytes(std::min(h, t + 2 * p.overlap), std::min(w, t + 2 * p.overlap)) *
                                  kMemoryMargin > budget)
    t = t / 2 / m * m;
  if (t < smallest) return std::nullopt;
  p.tile = t;
  return p;
}

models::Outputs restore_in_tiles(models::Model& model, const torch::Tensor& input, const TilePlan& plan) {
  using torch::indexing::Slice;
  const int64_t h = input.size(2), w = input.size(3), t = plan.tile, o = plan.overlap;
  std::vector<std::pair<std::string, torch::Tensor>> full;  // stitched outputs, by key
  for (int64_t y0 = 0; y0 < h; y0 += t)
    for (int64_t x0 = 0; x0 < w; x0 += t) {
      const int64_t y1 = std::min(h, y0 + t), x1 = std::min(w, x0 + t);
      const int64_t ty0 = std::max<int64_t>(0, y0 - o), tx0 = std::max<int64_t>(0, x0 - o);
      const int64_t ty1 = std::min(h, y1 + o), tx1 = std::min(w, x1 + o);
      const auto tile = input.index({Slice(), Slice(), Slice(ty0, ty1), Slice(tx0, tx1)});
      const auto out = model.forward(tile.contiguous(input.suggest_memory_format()));
      for (const auto& item : out.flat()) {
        const std::string& key = item.first;
        const torch::Tensor& v = item.second;
        if (v.dim() != 4 || v.size(2) != ty1 - ty0 || v.size(3) != tx1 - tx0 || key.find('[') != std::string::npos)
          continue;
        auto it = std::find_if(full.begin(), full.end(), [&](const auto& e) { return e.first == key; });
        if (it == full.end()) {
          full.emplace_back(key, torch::empty({v.size(0), v.size(1), h, w}, v.options()));
          it = std::prev(full.end());
        }
        it->second.index_put_({Slice(), Slice(), Slice(y0, y1), Slice(x0, x1)},
                              v.index({Slice(), Slice(), Slice(y0 - ty0, y1 - ty0), Slice(x0 - tx0, x1 - tx0)}));
      }
    }
  models::Outputs result;
  for (auto& [key, v] : full) result.set(key, std::move(v));
  return result;
}

}  // namespace dmgn::train
