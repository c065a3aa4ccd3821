#include "data/synth_mixed.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <tuple>
#include <utility>

#include "core/error.h"
#include "core/tasks.h"
#include "data/image_io.h"
#include "data/synth_haze.h"
#include "data/synth_jpeg.h"

namespace dmgn::data {

namespace {

// ImageMagick's MagickPI and DegreesToRadians, so that the rounded offsets match its own.
constexpr double kMagickPi = 3.14159265358979323846264338327950288419716939937510;
double degrees_to_radians(double degrees) { return kMagickPi * degrees / 180.0; }

// Standard normal by Box-Muller from the Rng's uniforms (the same numbers on every platform).
double gaussian(Rng& rng) {
  const double u1 = 1.0 - rng.uniform(), u2 = rng.uniform();  // u1 in (0, 1]
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * kMagickPi * u2);
}

template <class T>
const T& pick(const std::vector<T>& v, Rng& rng) {
  return v[static_cast<size_t>(rng.integer(0, static_cast<int64_t>(v.size()) - 1))];
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// ConfigError naming `<prefix>.<key>` unless `v` is non-empty and every value is finite and in
// [lo, hi] (or (lo, hi] when lo_open).
void check_list(const std::string& prefix, const char* key, const std::vector<double>& v, double lo, double hi,
                bool lo_open = false) {
  if (v.empty()) throw ConfigError(fmt::format("config key '{}.{}' is empty: list at least one value", prefix, key));
  for (const double x : v)
    if (!std::isfinite(x) || (lo_open ? x <= lo : x < lo) || x > hi)
      throw ConfigError(fmt::format("config key '{}.{}': {} is outside {}{}, {}]", prefix, key, x, lo_open ? "(" : "[",
                                    lo, hi));
}

}  // namespace

// ---- options ------------------------------------------------------------------------------

MixedOptions MixedOptions::from_config(const Config& full) {
  const std::string prefix = "synth.mixed";
  const Config c = full.sub(prefix);
  MixedOptions o;
  o.factors = c.get_strings("factors");
  o.random = c.get_bool("random");
  o.blur_radius = c.get_floats("blur_radius");
  o.blur_sigma = c.get_floats("blur_sigma");
  std::tie(o.blur_angle_lo, o.blur_angle_hi) = config_range(c, "blur_angle");
  o.rain_level = c.get_floats("rain_level");
  o.rain_length = c.get_floats("rain_length");
  o.rain_angle = c.get_floats("rain_angle");
  const std::vector<int64_t> q = c.get_ints("jpeg_quality");
  if (q.size() != 2 || q[0] > q[1] || q[0] < 1 || q[1] > 100)
    throw ConfigError(fmt::format("config key '{}.jpeg_quality' needs [lo, hi] with 1 <= lo <= hi <= 100", prefix));
  o.jpeg_quality_lo = static_cast<int>(q[0]);
  o.jpeg_quality_hi = static_cast<int>(q[1]);
  o.haze_airlight = c.get_floats("haze_airlight");
  o.haze_beta = c.get_floats("haze_beta");
  o.depth_scale = c.get_float("depth_scale");
  o.validate(prefix);
  return o;
}

void MixedOptions::validate(const std::string& prefix) const {
  if (factors.empty())
    throw ConfigError(fmt::format("config key '{}.factors' is empty: name at least one of haze, rain, blur, jpeg",
                                  prefix));
  for (size_t i = 0; i < factors.size(); ++i) {
    if (!contains(mixed_factor_order(), factors[i]))
      throw ConfigError(fmt::format("config key '{}.factors': unknown factor '{}' (known: haze, rain, blur, jpeg)",
                                    prefix, factors[i]));
    if (std::find(factors.begin(), factors.begin() + static_cast<std::ptrdiff_t>(i), factors[i]) !=
        factors.begin() + static_cast<std::ptrdiff_t>(i))
      throw ConfigError(fmt::format("config key '{}.factors': '{}' is listed twice", prefix, factors[i]));
  }
  check_list(prefix, "blur_radius", blur_radius, 1.0, 100.0);
  check_list(prefix, "blur_sigma", blur_sigma, 0.0, 100.0, /*lo_open=*/true);
  if (blur_radius.size() != blur_sigma.size())
    throw ConfigError(fmt::format("config keys '{0}.blur_radius' and '{0}.blur_sigma' are paired: {1} radii but {2} "
                                  "sigmas",
                                  prefix, blur_radius.size(), blur_sigma.size()));
  if (!(std::isfinite(blur_angle_lo) && std::isfinite(blur_angle_hi) && blur_angle_lo <= blur_angle_hi &&
        blur_angle_lo >= -360.0 && blur_angle_hi <= 360.0))
    throw ConfigError(fmt::format("config key '{}.blur_angle' needs [lo, hi] with -360 <= lo <= hi <= 360", prefix));
  check_list(prefix, "rain_level", rain_level, 0.0, 10.0, /*lo_open=*/true);
  check_list(prefix, "rain_length", rain_length, 1.0, 500.0);
  check_list(prefix, "rain_angle", rain_angle, -360.0, 360.0);
  if (jpeg_quality_lo < 1 || jpeg_quality_hi > 100 || jpeg_quality_lo > jpeg_quality_hi)
    throw ConfigError(fmt::format("config key '{}.jpeg_quality' needs [lo, hi] with 1 <= lo <= hi <= 100 (got [{}, {}])",
                                  prefix, jpeg_quality_lo, jpeg_quality_hi));
  check_list(prefix, "haze_airlight", haze_airlight, 0.0, 1.0);
  check_list(prefix, "haze_beta", haze_beta, 0.0, 10.0);
  if (!(std::isfinite(depth_scale) && depth_scale > 0.0 && depth_scale <= 1000.0))
    throw ConfigError(fmt::format("config key '{}.depth_scale': {} is outside (0, 1000]", prefix, depth_scale));
}

int MixedOptions::min_side() const {
  if (!contains(factors, "blur")) return 1;
  const double r = *std::max_element(blur_radius.begin(), blur_radius.end());
  return 2 * static_cast<int>(std::ceil(r)) + 1;
}

std::vector<std::string> mixed_factors_for(const MixedOptions& o, Rng& rng) {
  std::vector<std::string> chosen = o.factors;
  if (o.random && !chosen.empty()) {
    const auto n = static_cast<int64_t>(chosen.size());
    const int64_t x = rng.integer(1, n);
    for (int64_t i = 0; i < x; ++i)  // partial Fisher-Yates: the first x are a uniform subset
      std::swap(chosen[static_cast<size_t>(i)], chosen[static_cast<size_t>(rng.integer(i, n - 1))]);
    chosen.resize(static_cast<size_t>(x));
  }
  std::vector<std::string> ordered;
  for (const auto& f : mixed_factor_order())
    if (contains(chosen, f)) ordered.push_back(f);
  return ordered;
}

// ---- motion blur (ImageMagick) ------------------------------------------------------------

MotionBlurTaps imagemagick_motion_kernel(double radius, double sigma, double angle_deg) {
  if (!(std::isfinite(radius) && radius > 0 && radius <= 1000) || !(std::isfinite(sigma) && sigma > 0) ||
      !std::isfinite(angle_deg))
    throw DataError(fmt::format("mixed: motion blur needs radius in (0, 1000] and sigma > 0 (got radius {}, sigma "
                                "{}, angle {})",
                                radius, sigma, angle_deg));
  const int width = 2 * static_cast<int>(std::ceil(radius)) + 1;  // GetOptimalKernelWidth1D
  MotionBlurTaps k;
  double normalize = 0;
  for (int i = 0; i < width; ++i) {
    const double w = std::exp(-static_cast<double>(i * i) / (2.0 * sigma * sigma)) / (std::sqrt(2.0 * kMagickPi) * sigma);
    k.weights.push_back(w);
    normalize += w;
  }
  for (double& w : k.weights) w /= normalize;
  const double px = width * std::sin(degrees_to_radians(angle_deg));
  const double py = width * std::cos(degrees_to_radians(angle_deg));
  const double h = std::hypot(px, py);
  for (int i = 0; i < width; ++i)
    k.offsets.emplace_back(static_cast<int>(std::ceil(i * py / h - 0.5)), static_cast<int>(std::ceil(i * px / h - 0.5)));
  return k;
}

cv::Mat imagemagick_motion_blur(const cv::Mat& rgb, double radius, double sigma, double angle_deg) {
  require_rgb32f(rgb, "mixed: motion blur input");
  const MotionBlurTaps k = imagemagick_motion_kernel(radius, sigma, angle_deg);
  const int rows = rgb.rows, cols = rgb.cols;
  cv::Mat out(rows, cols, CV_32FC3);
  std::vector<int> xs(k.offsets.size());
  std::vector<const float*> src(k.offsets.size());
  for (int y = 0; y < rows; ++y) {
    for (size_t j = 0; j < k.offsets.size(); ++j)
      src[j] = rgb.ptr<float>(std::clamp(y + k.offsets[j].y, 0, rows - 1));
    float* o = out.ptr<float>(y);
    for (int x = 0; x < cols; ++x) {
      double acc[3] = {0, 0, 0};
      for (size_t j = 0; j < k.offsets.size(); ++j) {
        const float* p = src[j] + 3 * std::clamp(x + k.offsets[j].x, 0, cols - 1);
        for (int c = 0; c < 3; ++c) acc[c] += k.weights[j] * p[c];
      }
      for (int c = 0; c < 3; ++c) o[3 * x + c] = static_cast<float>(acc[c]);
    }
  }
  return out;
}

// ---- rain (GIMP tutorial) -----------------------------------------------------------------

cv::Mat gimp_rain_layer(int rows, int cols, double level, double length, double angle_deg, uint64_t seed) {
  if (rows < 1 || cols < 1 || !(std::isfinite(level) && level >= 0) ||
      !(std::isfinite(length) && length >= 0 && length <= 1000) || !std::isfinite(angle_deg))
    throw DataError(fmt::format("mixed: rain layer needs a non-empty size, level >= 0 and length in [0, 1000] (got "
                                "{}x{}, level {}, length {})",
                                cols, rows, level, length));
  // GEGL's linear motion blur as a correlation kernel: ceil(length) + 1 bilinear samples at
  // t * (ox, oy), t from -1/2 to 1/2, each of weight 1 / n.
  const double th = angle_deg * kMagickPi / 180.0;
  const double ox = length * std::cos(th), oy = length * std::sin(th);
  const int n = static_cast<int>(std::ceil(length)) + 1;
  const int pad_x = static_cast<int>(std::ceil(0.5 * std::fabs(ox))) + 1;
  const int pad_y = static_cast<int>(std::ceil(0.5 * std::fabs(oy))) + 1;
  cv::Mat k(2 * pad_y + 1, 2 * pad_x + 1, CV_64FC1, cv::Scalar(0.0));
  for (int s = 0; s < n; ++s) {
    const double t = n == 1 ? 0.0 : static_cast<double>(s) / (n - 1) - 0.5;
    const double xx = t * ox, yy = t * oy;
    const int ix = static_cast<int>(std::floor(xx)), iy = static_cast<int>(std::floor(yy));
    const double dx = xx - ix, dy = yy - iy;
    k.at<double>(pad_y + iy, pad_x + ix) += (1 - dx) * (1 - dy) / n;
    k.at<double>(pad_y + iy, pad_x + ix + 1) += dx * (1 - dy) / n;
    k.at<double>(pad_y + iy + 1, pad_x + ix) += (1 - dx) * dy / n;
    k.at<double>(pad_y + iy + 1, pad_x + ix + 1) += dx * dy / n;
  }
  // The noise on a canvas padded by the kernel's reach, clipped to [0, 1].
  cv::Mat canvas(rows + 2 * pad_y, cols + 2 * pad_x, CV_32FC1);
  Rng noise_rng(seed);
  for (int y = 0; y < canvas.rows; ++y) {
    float* p = canvas.ptr<float>(y);
    for (int x = 0; x < canvas.cols; ++x)
      p[x] = static_cast<float>(std::clamp(level * gaussian(noise_rng), 0.0, 1.0));
  }
  // out(p) = sum_d k(d) canvas(p + d) over the non-zero taps, on the image's window.
  cv::Mat acc(rows, cols, CV_64FC1, cv::Scalar(0.0)), shifted;
  for (int dy = -pad_y; dy <= pad_y; ++dy)
    for (int dx = -pad_x; dx <= pad_x; ++dx) {
      const double w = k.at<double>(pad_y + dy, pad_x + dx);
      if (w == 0.0) continue;
      canvas(cv::Rect(pad_x + dx, pad_y + dy, cols, rows)).convertTo(shifted, CV_64F);
      acc += w * shifted;
    }
  cv::Mat layer;
  acc.convertTo(layer, CV_32F);
  return cv::min(cv::max(layer, 0.0), 1.0);
}

cv::Mat screen_blend(const cv::Mat& rgb, const cv::Mat& layer) {
  require_rgb32f(rgb, "mixed: screen blend image");
  if (layer.type() != CV_32FC1 || layer.size() != rgb.size())
    throw DataError("mixed: the screen blend layer must be CV_32FC1 of the image's size");
  cv::Mat out(rgb.size(), CV_32FC3);
  for (int y = 0; y < rgb.rows; ++y) {
    const float* i = rgb.ptr<float>(y);
    const float* r = layer.ptr<float>(y);
    float* o = out.ptr<float>(y);
    for (int x = 0; x < rgb.cols; ++x)
      for (int c = 0; c < 3; ++c) o[3 * x + c] = 1.0f - (1.0f - i[3 * x + c]) * (1.0f - r[x]);
  }
  return out;
}

// ---- haze (RESIDE-beta) -------------------------------------------------------------------

cv::Mat mixed_haze(const cv::Mat& rgb, const cv::Mat& depth01, double airlight, double beta, double depth_scale) {
  require_rgb32f(rgb, "mixed: haze input");
  if (depth01.type() != CV_32FC1 || depth01.size() != rgb.size())
    throw DataError("mixed: the haze depth must be CV_32FC1 of the image's size");
  cv::Mat out(rgb.size(), CV_32FC3);
  for (int y = 0; y < rgb.rows; ++y) {
    const float* j = rgb.ptr<float>(y);
    const float* d = depth01.ptr<float>(y);
    float* o = out.ptr<float>(y);
    for (int x = 0; x < rgb.cols; ++x) {
      const double t = std::exp(-beta * depth_scale * static_cast<double>(d[x]));
      for (int c = 0; c < 3; ++c)
        o[3 * x + c] = static_cast<float>(std::min(1.0, static_cast<double>(j[3 * x + c]) * t + airlight * (1.0 - t)));
    }
  }
  return out;
}

// ---- synthesis ----------------------------------------------------------------------------

MixedSynthesis::MixedSynthesis(MixedOptions options) : options_(std::move(options)) {
  options_.validate("synth.mixed");
}

SynthOutput MixedSynthesis::synthesize(const SynthInput& in, Rng& rng) const {
  require_rgb32f(in.background, "mixed: background B");
  const int need = options_.min_side();
  if (in.background.rows < need || in.background.cols < need)
    throw DataError(fmt::format("mixed: a {}x{} image is too small: with \"blur\" among synth.mixed.factors both "
                                "sides must be at least {} px (the longest motion-blur kernel, radius {})",
                                in.background.cols, in.background.rows, need, (need - 1) / 2));
  const std::vector<std::string> factors = mixed_factors_for(options_, rng);
  SynthOutput out;
  out.background = quantize_8bit(in.background);
  cv::Mat x = out.background.clone();
  for (const auto& f : factors) {
    if (f == "haze") {
      const double a = pick(options_.haze_airlight, rng);
      const double beta = pick(options_.haze_beta, rng);
      const cv::Mat depth = haze_depth(SynthInput{out.background, {}, in.depth}, HazeOptions{});
      x = mixed_haze(x, depth, a, beta, options_.depth_scale);
    } else if (f == "rain") {
      const double level = pick(options_.rain_level, rng);
      const double length = pick(options_.rain_length, rng);
      const double angle = pick(options_.rain_angle, rng);
      const uint64_t seed = rng.engine()();
      x = screen_blend(x, gimp_rain_layer(x.rows, x.cols, level, length, angle, seed));
    } else if (f == "blur") {
      const auto i = static_cast<size_t>(rng.integer(0, static_cast<int64_t>(options_.blur_radius.size()) - 1));
      const double angle = rng.uniform(options_.blur_angle_lo, options_.blur_angle_hi);
      x = imagemagick_motion_blur(x, options_.blur_radius[i], options_.blur_sigma[i], angle);
    } else {  // jpeg
      x = jpeg_roundtrip(x, static_cast<int>(rng.integer(options_.jpeg_quality_lo, options_.jpeg_quality_hi)));
    }
  }
  out.input = x;
  out.noise = (out.input - out.background) * 0.5 + cv::Scalar::all(0.5);
  return out;
}

void register_mixed_synth() {
  register_task("mixed", "mixtures of rain, blur, haze and JPEG (MBN Table 4, R-MBN)");
  synths().add("mixed",
               "MBN's mixed degradations (supp. C): haze -> rain streaks -> motion blur -> JPEG, each with the "
               "paper's parameter sets; which factors, and random combinations, from [synth.mixed]",
               [](const Config& full) -> SynthPtr {
                 return std::make_shared<MixedSynthesis>(MixedOptions::from_config(full));
               });
}

}  // namespace dmgn::data
