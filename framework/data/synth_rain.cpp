#include "data/synth_rain.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <opencv2/imgproc.hpp>
#include <utility>

#include "core/error.h"
#include "core/tasks.h"
#include "data/image_io.h"

namespace dmgn::data {

namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr int kSamplesPerPx = 8;        // line samples per px of streak length
constexpr float kTapThreshold = 1e-3f;  // kernel entries below this (after max = 1) dropped

void check_range(const std::string& key, const RainRange& r, double lo, double hi,
                 bool hi_open = false) {
  const bool ok = std::isfinite(r.lo) && std::isfinite(r.hi) && r.lo <= r.hi && r.lo >= lo &&
                  (hi_open ? r.hi < hi : r.hi <= hi);
  if (!ok)
    throw ConfigError(fmt::format("{} = [{}, {}]: must be [lo, hi] with {} <= lo <= hi {} {}", key,
                                  r.lo, r.hi, lo, hi_open ? "<" : "<=", hi));
}

RainRange read_rain_range(const Config& c, const std::string& prefix, const char* key) {
  const std::vector<double> v = c.get_floats(key);
  if (v.size() != 2)
    throw ConfigError(
        fmt::format("{}.{}: expected [lo, hi] (2 numbers), got {}", prefix, key, v.size()));
  return RainRange{v[0], v[1]};
}

void check_params(const StreakLayerParams& p, size_t index) {
  const bool ok = std::isfinite(p.angle) && std::isfinite(p.length) && p.length >= 0 &&
                  p.length <= 1000 && std::isfinite(p.width) && p.width >= 0 && p.width <= 50 &&
                  p.density >= 0 && p.density <= 1 && p.intensity >= 0 && p.intensity <= 1;
  if (!ok)
    throw DataError(fmt::format(
        "rain: streak layer {} has parameters out of range (angle {}, length {}, width {}, "
        "density {}, intensity {}); need length in [0, 1000], width in [0, 50], density and "
        "intensity in [0, 1]",
        index, p.angle, p.length, p.width, p.density, p.intensity));
}

}  // namespace

// ---- ranges -------------------------------------------------------------------------------

// Rain100L: sparse, thin, bright streaks in one direction, nothing else.
RainRanges RainRanges::light() {
  RainRanges r;
  r.layers_lo = 1;
  r.layers_hi = 1;
  r.angle = {-25.0, 25.0};
  r.angle_spread = 0.0;
  r.length = {15.0, 35.0};
  r.width = {0.0, 0.6};
  r.density = {0.0008, 0.0025};
  r.intensity = {0.35, 0.7};
  r.veil = {0.0, 0.0};
  return r;
}

// Rain100H: dense, long, wide, semi-transparent streaks in several nearby directions over a
// washed-out (veiled) background.
RainRanges RainRanges::heavy() {
  RainRanges r;
  r.layers_lo = 3;
  r.layers_hi = 5;
  r.angle = {-30.0, 30.0};
  r.angle_spread = 10.0;
  r.length = {30.0, 60.0};
  r.width = {0.8, 1.6};
  r.density = {0.0006, 0.0015};
  r.intensity = {0.25, 0.55};
  r.veil = {0.05, 0.2};
  return r;
}

RainRanges RainRanges::from_config(const Config& full) {
  const std::string prefix = "synth.rain";
  const Config c = full.sub(prefix);
  RainRanges r;
  const std::vector<int64_t> layers = c.get_ints("layers");
  if (layers.size() != 2)
    throw ConfigError(
        fmt::format("{}.layers: expected [lo, hi] (2 integers), got {}", prefix, layers.size()));
  r.layers_lo = layers[0];
  r.layers_hi = layers[1];
  r.angle = read_rain_range(c, prefix, "angle");
  r.angle_spread = c.get_float("angle_spread");
  r.length = read_rain_range(c, prefix, "length");
  r.width = read_rain_range(c, prefix, "width");
  r.density = read_rain_range(c, prefix, "density");
  r.intensity = read_rain_range(c, prefix, "intensity");
  r.veil = read_rain_range(c, prefix, "veil");
  r.validate(prefix);
  return r;
}

void RainRanges::validate(const std::string& prefix) const {
  if (layers_lo < 1 || layers_hi < layers_lo || layers_hi > 16)
    throw ConfigError(fmt::format("{}.layers = [{}, {}]: must be [lo, hi] with 1 <= lo <= hi <= 16",
                                  prefix, layers_lo, layers_hi));
  check_range(prefix + ".angle", angle, -90.0, 90.0);
  if (!(angle_spread >= 0.0 && angle_spread <= 90.0))
    throw ConfigError(
        fmt::format("{}.angle_spread = {}: must be in [0, 90]", prefix, angle_spread));
  check_range(prefix + ".length", length, 0.0, 200.0);
  check_range(prefix + ".width", width, 0.0, 10.0);
  check_range(prefix + ".density", density, 0.0, 1.0);
  check_range(prefix + ".intensity", intensity, 0.0, 1.0);
  check_range(prefix + ".veil", veil, 0.0, 1.0, /*hi_open=*/true);
}

RainParams draw_rain_params(const RainRanges& r, Rng& rng) {
  RainParams p;
  const auto n = rng.integer(r.layers_lo, r.layers_hi);
  const double base = rng.uniform(r.angle.lo, r.angle.hi);
  for (int64_t i = 0; i < n; ++i) {
    StreakLayerParams l;
    l.angle = base + rng.uniform(-r.angle_spread, r.angle_spread);
    l.length = rng.uniform(r.length.lo, r.length.hi);
    l.width = rng.uniform(r.width.lo, r.width.hi);
    l.density = rng.uniform(r.density.lo, r.density.hi);
    l.intensity = rng.uniform(r.intensity.lo, r.intensity.hi);
    l.seed = rng.engine()();
    p.layers.push_back(l);
  }
  p.veil = rng.uniform(r.veil.lo, r.veil.hi);
  return p;
}

// ---- rendering ----------------------------------------------------------------------------

StreakKernel streak_kernel(double length, double angle_deg, double width) {
  const double half = length / 2.0;
  const int margin = static_cast<int>(std::ceil(3.0 * width)) + 2;
  const int radius = static_cast<int>(std::ceil(half)) + margin;
  const int size = 2 * radius + 1;
  cv::Mat k(size, size, CV_64FC1, cv::Scalar(0.0));

  // The line: direction of its top end (x right, y down), samples symmetric about the centre.
  const double a = angle_deg * kPi / 180.0;
  const double ux = std::sin(a), uy = -std::cos(a);
  const int n = std::max(1, static_cast<int>(std::ceil(length * kSamplesPerPx))) + 1;
  for (int i = 0; i < n; ++i) {
    const double t = (n == 1) ? 0.0 : -half + length * i / (n - 1);
    const double x = radius + t * ux, y = radius + t * uy;
    const int x0 = static_cast<int>(std::floor(x)), y0 = static_cast<int>(std::floor(y));
    const double fx = x - x0, fy = y - y0;
    k.at<double>(y0, x0) += (1 - fx) * (1 - fy);
    k.at<double>(y0, x0 + 1) += fx * (1 - fy);
    k.at<double>(y0 + 1, x0) += (1 - fx) * fy;
    k.at<double>(y0 + 1, x0 + 1) += fx * fy;
  }
  if (width > 0) {
    const int ks = 2 * static_cast<int>(std::ceil(3.0 * width)) + 1;
    cv::GaussianBlur(k, k, cv::Size(ks, ks), width, width, cv::BORDER_CONSTANT);
  }
  double kmax = 0;
  cv::minMaxLoc(k, nullptr, &kmax);

  StreakKernel out;
  out.radius = radius;
  for (int y = 0; y < size; ++y)
    for (int x = 0; x < size; ++x) {
      const auto v = static_cast<float>(k.at<double>(y, x) / kmax);
      if (v >= kTapThreshold) out.taps.push_back({y - radius, x - radius, v});
    }
  return out;
}

cv::Mat render_streaks(int rows, int cols, const StreakLayerParams& p) {
  check_params(p, 0);
  cv::Mat layer(rows, cols, CV_32FC1, cv::Scalar(0.0f));
  if (p.density <= 0.0 || p.intensity <= 0.0) return layer;
  const StreakKernel k = streak_kernel(p.length, p.angle, p.width);
  Rng rng(p.seed);
  const int r = k.radius;
  for (int cy = -r; cy < rows + r; ++cy)
    for (int cx = -r; cx < cols + r; ++cx) {
      if (rng.uniform() >= p.density) continue;
      const auto b = static_cast<float>(p.intensity * (0.5 + 0.5 * rng.uniform()));
      for (const auto& tap : k.taps) {
        const int y = cy + tap.dy, x = cx + tap.dx;
        if (y >= 0 && y < rows && x >= 0 && x < cols) layer.ptr<float>(y)[x] += b * tap.value;
      }
    }
  return layer;
}

SynthOutput synthesize_rain(const cv::Mat& background, const RainParams& p) {
  require_rgb32f(background, "rain: background B");
  if (!(p.veil >= 0.0 && p.veil < 1.0))
    throw DataError(fmt::format("rain: veil {} outside [0, 1)", p.veil));
  const int h = background.rows, w = background.cols;
  cv::Mat streaks(h, w, CV_32FC1, cv::Scalar(0.0f));
  for (size_t i = 0; i < p.layers.size(); ++i) {
    check_params(p.layers[i], i);
    streaks += render_streaks(h, w, p.layers[i]);
  }

  SynthOutput out;
  out.background = background.clone();
  out.input.create(h, w, CV_32FC3);
  out.noise.create(h, w, CV_32FC3);
  const auto v = static_cast<float>(p.veil);
  for (int y = 0; y < h; ++y) {
    const float* b = background.ptr<float>(y);
    const float* s = streaks.ptr<float>(y);
    float* in = out.input.ptr<float>(y);
    float* nz = out.noise.ptr<float>(y);
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c) {
        const int k = 3 * x + c;
        float i = std::min(1.0f, b[k] + s[x]);
        if (v > 0.0f) i = std::min(1.0f, (1.0f - v) * i + v);
        in[k] = i;
        nz[k] = i - b[k];
      }
  }
  return out;
}

// ---- registry -----------------------------------------------------------------------------

RainSynthesis::RainSynthesis(std::string name, RainRanges ranges)
    : name_(std::move(name)), ranges_(std::move(ranges)) {
  ranges_.validate(name_);
}

SynthOutput RainSynthesis::synthesize(const SynthInput& in, Rng& rng) const {
  require_rgb32f(in.background, "rain: background B");
  return synthesize_rain(in.background, draw_rain_params(ranges_, rng));
}

void register_rain_synths() {
  register_task("rain", "rain streak removal (DMGN Table V; MBN)");
  synths().add("rain_light",
               "Rain100L-like streaks: one layer, sparse thin streaks in one direction, "
               "I = min(1, B + S)",
               [](const Config&) -> SynthPtr {
                 return std::make_shared<RainSynthesis>("rain_light", RainRanges::light());
               });
  synths().add("rain_heavy",
               "Rain100H-like streaks: 3-5 layers in several directions, dense, long and wide, "
               "light white veil",
               [](const Config&) -> SynthPtr {
                 return std::make_shared<RainSynthesis>("rain_heavy", RainRanges::heavy());
               });
  synths().add("rain", "rain streaks with the ranges of [synth.rain]",
               [](const Config& full) -> SynthPtr {
                 return std::make_shared<RainSynthesis>("rain", RainRanges::from_config(full));
               });
}

}  // namespace dmgn::data
