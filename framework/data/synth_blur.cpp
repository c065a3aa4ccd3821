#include "data/synth_blur.h"

#include <fmt/format.h>

#include <cmath>
#include <opencv2/imgproc.hpp>
#include <vector>

#include "core/error.h"
#include "core/tasks.h"

namespace dmgn::data {
namespace {

struct Pt {
  double x, y;
};

// Catmull-Rom point between p1 and p2 at t in [0, 1].
Pt catmull_rom(const Pt& p0, const Pt& p1, const Pt& p2, const Pt& p3, double t) {
  const double t2 = t * t, t3 = t2 * t;
  auto f = [&](double a, double b, double c, double d) {
    return 0.5 * (2 * b + (-a + c) * t + (2 * a - 5 * b + 4 * c - d) * t2 + (-a + 3 * b - 3 * c + d) * t3);
  };
  return {f(p0.x, p1.x, p2.x, p3.x), f(p0.y, p1.y, p2.y, p3.y)};
}

// Standard normal by Box-Muller from the Rng's uniforms (the same numbers on every platform).
double gaussian(Rng& rng) {
  const double u1 = 1.0 - rng.uniform(), u2 = rng.uniform();  // u1 in (0, 1]
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

}  // namespace

MotionBlurOptions MotionBlurOptions::from_config(const Config& full) {
  const Config c = full.sub("synth.blur_motion");
  MotionBlurOptions o;
  o.kernel_size = static_cast<int>(c.get_int("kernel_size"));
  o.points = static_cast<int>(c.get_int("points"));
  std::tie(o.length_lo, o.length_hi) = config_range(c, "length");
  o.smooth = c.get_float("smooth");
  o.noise = c.get_float("noise");
  if (o.kernel_size < 3 || o.kernel_size % 2 == 0)
    throw ConfigError(fmt::format("config key 'synth.blur_motion.kernel_size': {} must be odd and >= 3", o.kernel_size));
  if (o.points < 2) throw ConfigError("config key 'synth.blur_motion.points' must be >= 2");
  if (o.length_lo < 0 || o.length_hi > o.kernel_size - 2)
    throw ConfigError(fmt::format("config key 'synth.blur_motion.length': [{}, {}] must lie in [0, kernel_size - 2 = {}]",
                                  o.length_lo, o.length_hi, o.kernel_size - 2));
  if (o.smooth < 0 || o.noise < 0)
    throw ConfigError("config keys 'synth.blur_motion.smooth' and '.noise' must be >= 0");
  return o;
}

cv::Mat motion_kernel(const MotionBlurOptions& o, Rng& rng) {
  const int k = o.kernel_size;
  const double side = rng.uniform(o.length_lo, o.length_hi);
  std::vector<Pt> pts;
  for (int i = 0; i < o.points; ++i) pts.push_back({rng.uniform(-side / 2, side / 2), rng.uniform(-side / 2, side / 2)});
  // Dense samples along the spline through the points (ends repeated as phantom points).
  std::vector<Pt> path;
  const int per_segment = 64;
  for (size_t s = 0; s + 1 < pts.size(); ++s) {
    const Pt& p0 = pts[s == 0 ? 0 : s - 1];
    const Pt& p3 = pts[std::min(s + 2, pts.size() - 1)];
    for (int j = 0; j < per_segment; ++j)
      path.push_back(catmull_rom(p0, pts[s], pts[s + 1], p3, static_cast<double>(j) / per_segment));
  }
  path.push_back(pts.back());
  // Centre of mass to the origin (the kernel then does not shift the image on average).
  double cx = 0, cy = 0;
  for (const auto& p : path) cx += p.x, cy += p.y;
  cx /= static_cast<double>(path.size());
  cy /= static_cast<double>(path.size());
  cv::Mat kernel = cv::Mat::zeros(k, k, CV_32FC1);
  const double c = (k - 1) / 2.0;
  for (const auto& p : path) {
    // The spline can overshoot the square a little: clamp into the grid.
    const double x = std::clamp(p.x - cx + c, 0.0, k - 1.0), y = std::clamp(p.y - cy + c, 0.0, k - 1.0);
    const int x0 = std::min(static_cast<int>(x), k - 2), y0 = std::min(static_cast<int>(y), k - 2);
    const double fx = x - x0, fy = y - y0;
    kernel.at<float>(y0, x0) += static_cast<float>((1 - fx) * (1 - fy));
    kernel.at<float>(y0, x0 + 1) += static_cast<float>(fx * (1 - fy));
    kernel.at<float>(y0 + 1, x0) += static_cast<float>((1 - fx) * fy);
    kernel.at<float>(y0 + 1, x0 + 1) += static_cast<float>(fx * fy);
  }
  if (o.smooth > 0) {
    const int sz = 2 * static_cast<int>(std::ceil(3 * o.smooth)) + 1;
    cv::GaussianBlur(kernel, kernel, cv::Size(sz, sz), o.smooth, o.smooth, cv::BORDER_CONSTANT);
  }
  kernel = cv::max(kernel, 0.0);
  const double sum = cv::sum(kernel)[0];
  if (!(sum > 0)) throw DataError("blur_motion: the drawn kernel is empty");
  kernel /= sum;
  return kernel;
}

cv::Mat blur_reflect(const cv::Mat& image, const cv::Mat& k) {
  const int r = (k.rows - 1) / 2;
  if (k.rows % 2 == 0 || k.rows != k.cols)
    throw DataError(fmt::format("blur: the kernel must be square and odd, not {}x{}", k.rows, k.cols));
  if (r >= image.rows || r >= image.cols)
    throw DataError(fmt::format("blur: a {}x{} kernel needs an image larger than {} px per side (got {}x{})", k.rows,
                                k.cols, r, image.cols, image.rows));
  cv::Mat out;
  cv::filter2D(image, out, CV_32F, k, cv::Point(-1, -1), 0.0, cv::BORDER_REFLECT_101);  // correlation
  return out;
}

SynthOutput MotionBlur::synthesize(const SynthInput& in, Rng& rng) const {
  if (in.background.type() != CV_32FC3) throw DataError("blur_motion: needs an RGB float image");
  const cv::Mat k = motion_kernel(o_, rng);
  cv::Mat input = blur_reflect(in.background, k);
  if (o_.noise > 0) {
    cv::Mat n(input.size(), CV_32FC3);
    for (int y = 0; y < n.rows; ++y)
      for (int x = 0; x < n.cols; ++x)
        for (int c = 0; c < 3; ++c) n.at<cv::Vec3f>(y, x)[c] = static_cast<float>(o_.noise * gaussian(rng));
    input = cv::min(cv::max(input + n, 0.0), 1.0);
  }
  cv::Mat noise = (input - in.background) * 0.5 + cv::Scalar::all(0.5);
  SynthOutput out{in.background.clone(), noise, input, {}};
  out.extra["blur_kernel"] = k;
  return out;
}

void register_blur_synth() {
  register_task("blur", "deblurring (Physics-GAN Table 9; MBN motion blur)");
  synths().add("blur_motion",
               "Physics-GAN's non-blind motion blur: I = k (x) B with a random trajectory kernel (Schmidt et al. "
               "2013), kernel kept in the sample ([synth.blur_motion])",
               [](const Config& full) -> SynthPtr {
                 return std::make_shared<MotionBlur>(MotionBlurOptions::from_config(full));
               });
}

}  // namespace dmgn::data
