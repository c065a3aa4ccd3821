#include "data/synth_haze.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <opencv2/imgproc.hpp>
#include <tuple>
#include <utility>

#include "core/error.h"
#include "core/tasks.h"
#include "data/image_io.h"

namespace dmgn::data {

namespace {

constexpr double kRampWeight = 0.6;  // w: ramp vs dark channel
constexpr double kNear = 0.2;        // the nearest estimated depth
constexpr int kSmoothSide = 32;      // short side of the copy the blur runs on

void require(bool ok, const std::string& message) {
  if (!ok) throw ConfigError(message);
}

std::pair<double, double> read_haze_range(const Config& c, const std::string& prefix, const char* key) {
  const std::vector<double> v = c.get_floats(key);
  require(v.size() == 2,
          fmt::format("{}.{}: expected [lo, hi] (2 numbers), got {}", prefix, key, v.size()));
  return {v[0], v[1]};
}

void check_range(const std::string& key, double lo, double hi, double min, double max) {
  require(std::isfinite(lo) && std::isfinite(hi) && min <= lo && lo <= hi && hi <= max,
          fmt::format("{} = [{}, {}]: must be [lo, hi] with {} <= lo <= hi <= {}", key, lo, hi, min,
                      max));
}

// Throws DataError unless `depth` is a usable depth map for a rows x cols image.
void check_depth(const cv::Mat& depth, int rows, int cols, const char* who) {
  if (depth.type() != CV_32FC1)
    throw DataError(
        fmt::format("{}: the depth map must be CV_32FC1 (one float channel), got "
                    "type {} with {} channels",
                    who, depth.type(), depth.channels()));
  if (depth.rows != rows || depth.cols != cols)
    throw DataError(fmt::format("{}: the depth map is {}x{} but the image is {}x{}", who,
                                depth.cols, depth.rows, cols, rows));
  for (int y = 0; y < rows; ++y) {
    const float* d = depth.ptr<float>(y);
    for (int x = 0; x < cols; ++x)
      if (!std::isfinite(d[x]) || d[x] < 0.0f)
        throw DataError(fmt::format("{}: depth {} at (x {}, y {}) is not a finite value >= 0", who,
                                    d[x], x, y));
  }
}

}  // namespace

// ---- options ------------------------------------------------------------------------------

HazeOptions HazeOptions::from_config(const Config& full) {
  const std::string prefix = "synth.haze";
  const Config c = full.sub(prefix);
  HazeOptions o;
  std::tie(o.beta_lo, o.beta_hi) = read_haze_range(c, prefix, "beta");
  std::tie(o.airlight_lo, o.airlight_hi) = read_haze_range(c, prefix, "airlight");
  o.tint = c.get_float("tint");
  o.depth = c.get_string("depth");
  o.depth_scale = c.get_string("depth_scale");
  o.validate(prefix);
  return o;
}

void HazeOptions::validate(const std::string& prefix) const {
  check_range(prefix + ".beta", beta_lo, beta_hi, 0.0, 10.0);
  check_range(prefix + ".airlight", airlight_lo, airlight_hi, 0.0, 1.0);
  require(std::isfinite(tint) && tint >= 0.0 && tint <= 1.0,
          fmt::format("{}.tint = {}: must be in [0, 1]", prefix, tint));
  require(depth == "auto" || depth == "estimate" || depth == "uniform",
          fmt::format("{}.depth = '{}': must be auto, estimate or uniform", prefix, depth));
  require(depth_scale == "max" || depth_scale == "none",
          fmt::format("{}.depth_scale = '{}': must be max or none", prefix, depth_scale));
}

HazeParams draw_haze_params(const HazeOptions& o, Rng& rng) {
  HazeParams p;
  p.beta = rng.uniform(o.beta_lo, o.beta_hi);
  const double a = rng.uniform(o.airlight_lo, o.airlight_hi);
  for (int c = 0; c < 3; ++c)
    p.airlight[c] = std::clamp(a * (1.0 + rng.uniform(-o.tint, o.tint)), 0.0, 1.0);
  return p;
}

// ---- depth --------------------------------------------------------------------------------

cv::Mat estimate_depth(const cv::Mat& background) {
  require_rgb32f(background, "haze: background J");
  const int h = background.rows, w = background.cols;
  const int short_side = std::min(h, w);

  // Dark channel: min over channels, then a min filter over an odd square patch.
  cv::Mat dark(h, w, CV_32FC1);
  for (int y = 0; y < h; ++y) {
    const float* j = background.ptr<float>(y);
    float* d = dark.ptr<float>(y);
    for (int x = 0; x < w; ++x) d[x] = std::min({j[3 * x], j[3 * x + 1], j[3 * x + 2]});
  }
  const int patch = std::max(3, short_side / 16) | 1;
  cv::erode(dark, dark, cv::getStructuringElement(cv::MORPH_RECT, cv::Size(patch, patch)));

  cv::Mat mix(h, w, CV_32FC1);
  for (int y = 0; y < h; ++y) {
    const double ramp = h > 1 ? 1.0 - static_cast<double>(y) / (h - 1) : 0.5;
    const float* d = dark.ptr<float>(y);
    float* m = mix.ptr<float>(y);
    for (int x = 0; x < w; ++x)
      m[x] = static_cast<float>(kRampWeight * ramp + (1.0 - kRampWeight) * d[x]);
  }

  // Smooth on a small copy: sigma = short side / 8 of whichever size the blur runs at.
  cv::Mat small = mix;
  if (short_side > kSmoothSide) {
    const double s = static_cast<double>(kSmoothSide) / short_side;
    const cv::Size size(std::max(1, static_cast<int>(std::lround(w * s))),
                        std::max(1, static_cast<int>(std::lround(h * s))));
    cv::resize(mix, small, size, 0, 0, cv::INTER_AREA);
  }
  const double sigma = std::min(small.rows, small.cols) / 8.0;
  cv::GaussianBlur(small, small, cv::Size(0, 0), sigma, sigma, cv::BORDER_REFLECT_101);
  cv::Mat smooth;
  if (small.size() != mix.size())
    cv::resize(small, smooth, mix.size(), 0, 0, cv::INTER_LINEAR);
  else
    smooth = small;

  cv::Mat depth(h, w, CV_32FC1);
  for (int y = 0; y < h; ++y) {
    const float* s = smooth.ptr<float>(y);
    float* d = depth.ptr<float>(y);
    for (int x = 0; x < w; ++x)
      d[x] = static_cast<float>(kNear +
                                (1.0 - kNear) * std::clamp(static_cast<double>(s[x]), 0.0, 1.0));
  }
  return depth;
}

cv::Mat haze_depth(const SynthInput& in, const HazeOptions& o) {
  require_rgb32f(in.background, "haze: background J");
  const int h = in.background.rows, w = in.background.cols;
  if (o.depth == "uniform") return cv::Mat(h, w, CV_32FC1, cv::Scalar(1.0f));
  if (o.depth == "estimate" || in.depth.empty()) return estimate_depth(in.background);
  check_depth(in.depth, h, w, "haze");
  if (o.depth_scale == "none") return in.depth.clone();
  double dmax = 0;
  cv::minMaxLoc(in.depth, nullptr, &dmax);
  if (!(dmax > 0))
    throw DataError("haze: the depth map is all zero; depth_scale = \"max\" cannot normalise it");
  cv::Mat d;
  in.depth.convertTo(d, CV_32FC1, 1.0 / dmax);
  return d;
}

cv::Mat transmission(const cv::Mat& depth, double beta) {
  cv::Mat t(depth.size(), CV_32FC1);
  for (int y = 0; y < depth.rows; ++y) {
    const float* d = depth.ptr<float>(y);
    float* o = t.ptr<float>(y);
    for (int x = 0; x < depth.cols; ++x)
      o[x] = static_cast<float>(std::exp(-beta * static_cast<double>(d[x])));
  }
  return t;
}

// ---- synthesis ----------------------------------------------------------------------------

SynthOutput synthesize_haze(const cv::Mat& background, const cv::Mat& depth, const HazeParams& p) {
  require_rgb32f(background, "haze: background J");
  check_depth(depth, background.rows, background.cols, "haze");
  if (!(std::isfinite(p.beta) && p.beta >= 0.0))
    throw DataError(fmt::format("haze: beta {} is not a finite value >= 0", p.beta));
  for (int c = 0; c < 3; ++c)
    if (!(p.airlight[c] >= 0.0 && p.airlight[c] <= 1.0))
      throw DataError(
          fmt::format("haze: airlight channel {} = {} outside [0, 1]", c, p.airlight[c]));

  const cv::Mat t = transmission(depth, p.beta);
  const int h = background.rows, w = background.cols;
  SynthOutput out;
  out.background = background.clone();
  out.input.create(h, w, CV_32FC3);
  out.noise.create(h, w, CV_32FC3);
  for (int y = 0; y < h; ++y) {
    const float* j = background.ptr<float>(y);
    const float* tt = t.ptr<float>(y);
    float* in = out.input.ptr<float>(y);
    float* nz = out.noise.ptr<float>(y);
    for (int x = 0; x < w; ++x) {
      const double tx = tt[x];
      for (int c = 0; c < 3; ++c) {
        const int k = 3 * x + c;
        const double veil = p.airlight[c] * (1.0 - tx);  // the airlight veil A (1 - t)
        nz[k] = static_cast<float>(veil);
        in[k] = static_cast<float>(std::min(1.0, static_cast<double>(j[k]) * tx + veil));
      }
    }
  }
  out.extra["transmission"] = t;
  out.extra["depth"] = depth.clone();
  out.extra["airlight"] = cv::Mat(1, 1, CV_32FC3, cv::Scalar(p.airlight[0], p.airlight[1], p.airlight[2]));
  return out;
}

HazeSynthesis::HazeSynthesis(HazeOptions options) : options_(std::move(options)) {
  options_.validate("haze");
}

SynthOutput HazeSynthesis::synthesize(const SynthInput& in, Rng& rng) const {
  const cv::Mat depth = haze_depth(in, options_);
  return synthesize_haze(in.background, depth, draw_haze_params(options_, rng));
}

void register_haze_synths() {
  register_task("haze", "dehazing (DMGN Table VI; Physics-GAN Tables 5, 8; MBN)");
  synths().add("haze",
               "atmospheric scattering I = J t + A (1 - t), t = exp(-beta d), beta and A from "
               "[synth.haze]; depth given or estimated (ramp + dark channel)",
               [](const Config& full) -> SynthPtr {
                 return std::make_shared<HazeSynthesis>(HazeOptions::from_config(full));
               });
}

}  // namespace dmgn::data
