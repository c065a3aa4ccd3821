#include "data/synth_reflection.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <opencv2/imgproc.hpp>

#include "core/error.h"
#include "core/tasks.h"
#include "data/image_io.h"

namespace dmgn::data {

namespace {

constexpr double kGamma = 2.2;

void check_layers(const cv::Mat& t, const cv::Mat& r, const char* who) {
  require_rgb32f(t, fmt::format("{}: background T", who).c_str());
  require_rgb32f(r, fmt::format("{}: reflection R", who).c_str());
  if (t.size() != r.size())
    throw DataError(fmt::format("{}: T is {}x{} but R is {}x{}; the layers must have one size", who,
                                t.cols, t.rows, r.cols, r.rows));
}

// Elementwise x^e for a CV_32FC3 image (inputs are >= 0).
cv::Mat power(const cv::Mat& img, double e) {
  cv::Mat out(img.size(), CV_32FC3);
  for (int y = 0; y < img.rows; ++y) {
    const float* src = img.ptr<float>(y);
    float* dst = out.ptr<float>(y);
    for (int k = 0; k < img.cols * 3; ++k)
      dst[k] = static_cast<float>(std::pow(static_cast<double>(src[k]), e));
  }
  return out;
}

cv::Mat compute_vignette() {
  // gkern(kernlen = 560, nsig = 3)
  const int n = kVignetteSize;
  const double nsig = 3.0;
  const double interval = (2.0 * nsig + 1.0) / n;
  const double lo = -nsig - interval / 2.0, hi = nsig + interval / 2.0;
  const double step = (hi - lo) / n;  // np.linspace(lo, hi, n + 1)
  std::vector<double> cdf(n + 1);
  for (int i = 0; i <= n; ++i) {
    const double x = (i == n) ? hi : lo + i * step;
    cdf[i] = 0.5 * (1.0 + std::erf(x / std::sqrt(2.0)));
  }
  std::vector<double> k1(n);
  for (int i = 0; i < n; ++i) k1[i] = std::sqrt(cdf[i + 1] - cdf[i]);
  // sqrt(outer(k, k)) = sqrt(k_i) sqrt(k_j); normalising by the sum and then by the max is a
  // division by the max alone.
  const double kmax = *std::max_element(k1.begin(), k1.end());
  cv::Mat mask(n, n, CV_32FC1);
  for (int y = 0; y < n; ++y)
    for (int x = 0; x < n; ++x)
      mask.at<float>(y, x) = static_cast<float>((k1[y] * k1[x]) / (kmax * kmax));
  return mask;
}

}  // namespace

// ---- reflection_zhang2018 ----------------------------------------------------------------

double Zhang2018Params::sigma() const {
  if (sigma_index < 0 || sigma_index >= kZhang2018Sigmas)
    throw DataError(fmt::format("reflection_zhang2018: sigma index {} outside [0, {})", sigma_index,
                                kZhang2018Sigmas));
  // np.linspace(1, 5, 80): start + i * step, the last value exactly 5.
  if (sigma_index == kZhang2018Sigmas - 1) return 5.0;
  return 1.0 + sigma_index * (4.0 / (kZhang2018Sigmas - 1));
}

int Zhang2018Params::kernel_size() const {
  return static_cast<int>(2.0 * std::ceil(2.0 * sigma()) + 1.0);
}

const cv::Mat& vignette_mask() {
  static const cv::Mat mask = compute_vignette();
  return mask;
}

Zhang2018Params draw_zhang2018_params(int rows, int cols, Rng& rng) {
  if (rows > kZhang2018MaxSize || cols > kZhang2018MaxSize || rows < 1 || cols < 1)
    throw DataError(fmt::format(
        "reflection_zhang2018: a {}x{} image does not fit the {}x{} vignetting mask (at most "
        "{} px per side); resize or crop the layers first",
        cols, rows, kVignetteSize, kVignetteSize, kZhang2018MaxSize));
  Zhang2018Params p;
  p.sigma_index = static_cast<int>(rng.integer(0, kZhang2018Sigmas - 1));
  p.att = 1.08 + rng.uniform() / 10.0;
  p.offset_x = static_cast<int>(rng.integer(0, kVignetteSize - cols - 10 - 1));
  p.offset_y = static_cast<int>(rng.integer(0, kVignetteSize - rows - 10 - 1));
  p.alpha2 = 1.0 - rng.uniform() / 5.0;
  p.clip = rng.uniform() > 0.5;
  return p;
}

SynthOutput synthesize_zhang2018(const cv::Mat& t_in, const cv::Mat& r_in,
                                 const Zhang2018Params& p) {
  check_layers(t_in, r_in, "reflection_zhang2018");
  const int h = t_in.rows, w = t_in.cols;
  if (p.offset_x < 0 || p.offset_y < 0 || p.offset_x + w > kVignetteSize ||
      p.offset_y + h > kVignetteSize)
    throw DataError(fmt::format(
        "reflection_zhang2018: a {}x{} image at offset ({}, {}) leaves the {}x{} vignetting mask",
        w, h, p.offset_x, p.offset_y, kVignetteSize, kVignetteSize));

  const cv::Mat t = power(t_in, kGamma);
  const cv::Mat r = power(r_in, kGamma);

  // The official call cv2.GaussianBlur(r, (sz, sz), sigma, sigma, 0) passes sigma as `dst`
  // and 0 as sigmaY (= sigmaX), with OpenCV's default border (reflect 101).
  const double sigma = p.sigma();
  const int sz = p.kernel_size();
  cv::Mat r_blur;
  cv::GaussianBlur(r, r_blur, cv::Size(sz, sz), sigma, sigma, cv::BORDER_REFLECT_101);

  // Over-exposure compensation, per channel: mean_i = max(1, mean of blend values > 1).
  double sum[3] = {0, 0, 0}, count[3] = {0, 0, 0};
  for (int y = 0; y < h; ++y) {
    const float* rb = r_blur.ptr<float>(y);
    const float* tt = t.ptr<float>(y);
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c) {
        const float b = rb[3 * x + c] + tt[3 * x + c];
        if (b > 1.0f) {
          sum[c] += b;
          count[c] += 1.0;
        }
      }
  }
  float shift[3];
  for (int c = 0; c < 3; ++c) {
    const double mean_c = std::max(1.0, sum[c] / (count[c] + 1e-6));
    shift[c] = static_cast<float>((mean_c - 1.0) * p.att);
  }

  const cv::Mat& mask = vignette_mask();
  SynthOutput out;
  out.background = t_in.clone();
  out.noise.create(h, w, CV_32FC3);
  out.input.create(h, w, CV_32FC3);
  const double inv_gamma = 1.0 / kGamma;
  for (int y = 0; y < h; ++y) {
    const float* rb = r_blur.ptr<float>(y);
    const float* tt = t.ptr<float>(y);
    const float* alpha1 = mask.ptr<float>(p.offset_y + y) + p.offset_x;
    float* ro = out.noise.ptr<float>(y);
    float* bo = out.input.ptr<float>(y);
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c) {
        const int k = 3 * x + c;
        const float rc = std::clamp(rb[k] - shift[c], 0.0f, 1.0f);
        const double r_mask = static_cast<double>(rc) * alpha1[x];
        double blend = std::pow(r_mask + static_cast<double>(tt[k]) * p.alpha2, inv_gamma);
        if (p.clip) blend = std::clamp(blend, 0.0, 1.0);
        ro[k] = static_cast<float>(std::pow(r_mask, inv_gamma));
        bo[k] = static_cast<float>(blend);
      }
  }
  out.extra["reflection"] = out.noise;
  return out;
}

SynthOutput ReflectionZhang2018::synthesize(const SynthInput& in, Rng& rng) const {
  check_layers(in.background, in.layer, "reflection_zhang2018");
  return synthesize_zhang2018(in.background, in.layer,
                              draw_zhang2018_params(in.background.rows, in.background.cols, rng));
}

// ---- reflection_errnet -------------------------------------------------------------------

ErrnetParams draw_errnet_params(Rng& rng) {
  ErrnetParams p;
  p.sigma = rng.uniform(2.0, 5.0);
  p.gamma = 1.3;
  return p;
}

SynthOutput synthesize_errnet(const cv::Mat& t, const cv::Mat& r, const ErrnetParams& p) {
  check_layers(t, r, "reflection_errnet");
  // scipy convolve2d(mode='same') with the 11x11 kernel getGaussianKernel(11, sigma) k^T:
  // zero padding; the kernel is symmetric, so correlation = convolution.
  const cv::Mat k = cv::getGaussianKernel(11, p.sigma, CV_64F);
  cv::Mat r_blur;
  cv::sepFilter2D(r, r_blur, CV_32F, k, k, cv::Point(-1, -1), 0.0, cv::BORDER_CONSTANT);

  cv::Mat m = t + r_blur;
  double sum = 0, count = 0;
  for (int y = 0; y < m.rows; ++y) {
    const float* mp = m.ptr<float>(y);
    for (int i = 0; i < m.cols * 3; ++i)
      if (mp[i] > 1.0f) {
        sum += mp[i];
        count += 1.0;
      }
  }
  if (count > 0) {
    const double shift = (sum / count - 1.0) * p.gamma;
    r_blur -= cv::Scalar::all(shift);
    r_blur = cv::min(cv::max(r_blur, 0.0), 1.0);
    m = cv::min(cv::max(t + r_blur, 0.0), 1.0);
  }
  SynthOutput out{t.clone(), r_blur, m, {}};
  out.extra["reflection"] = r_blur;
  return out;
}

SynthOutput ReflectionErrnet::synthesize(const SynthInput& in, Rng& rng) const {
  return synthesize_errnet(in.background, in.layer, draw_errnet_params(rng));
}

// ---- pair rejection ----------------------------------------------------------------------

double image_mean(const cv::Mat& img) {
  require_rgb32f(img, "image_mean");
  const cv::Scalar m = cv::mean(img);
  return (m[0] + m[1] + m[2]) / 3.0;
}

void register_reflection_synths() {
  register_task("reflection", "single-image reflection removal: background B from I = B + R (DMGN Tables I, II, IV)");
  synths().add("reflection_zhang2018",
               "official DMGN ReflectionSythesis_2 (Zhang et al. 2018): gamma 2.2, blur, "
               "vignette, I = R_mask + a2*T",
               [](const Config&) -> SynthPtr { return std::make_shared<ReflectionZhang2018>(); });
  synths().add("reflection_errnet",
               "ERRNet ReflectionSythesis_1: 11x11 Gaussian sigma U[2,5), M = T + R_blur, "
               "over-exposure compensation",
               [](const Config&) -> SynthPtr { return std::make_shared<ReflectionErrnet>(); });
}

}  // namespace dmgn::data
