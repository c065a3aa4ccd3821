#include "data/synth_linear.h"

#include <fmt/format.h>

#include <cmath>
#include <opencv2/imgproc.hpp>

#include "core/error.h"

namespace dmgn::data {

namespace {

constexpr double kGamma = 2.2;

}  // namespace

LinearBlendOptions LinearBlendOptions::from_config(const Config& full) {
  const Config c = full.sub("synth.reflection_linear");
  LinearBlendOptions o;
  std::tie(o.alpha_lo, o.alpha_hi) = config_range(c, "alpha");
  std::tie(o.scale_lo, o.scale_hi) = config_range(c, "scale");
  std::tie(o.sigma_lo, o.sigma_hi) = config_range(c, "blur_sigma");
  return o;
}

SynthOutput synthesize_linear_blend(const cv::Mat& t, const cv::Mat& r, const LinearBlendParams& p) {
  if (t.type() != CV_32FC3 || r.type() != CV_32FC3 || t.size() != r.size())
    throw DataError("reflection_linear: needs two RGB float images of the same size");
  cv::Mat tl, rl;
  cv::pow(cv::max(t, 0.0), kGamma, tl);
  cv::pow(cv::max(r, 0.0), kGamma, rl);
  rl *= p.scale;
  if (p.sigma > 0) {
    const int sz = 2 * static_cast<int>(std::ceil(2 * p.sigma)) + 1;
    cv::GaussianBlur(rl, rl, cv::Size(sz, sz), p.sigma, p.sigma, cv::BORDER_REFLECT_101);
  }
  cv::Mat il = tl * p.alpha + rl;  // Eq. 6
  cv::Mat input, refl;
  cv::pow(cv::min(cv::max(il, 0.0), 1.0), 1.0 / kGamma, input);
  cv::pow(cv::min(rl, 1.0), 1.0 / kGamma, refl);
  SynthOutput out{t.clone(), refl, input, {}};
  out.extra["reflection"] = refl;
  out.extra["alpha"] = cv::Mat(1, 1, CV_32FC1, cv::Scalar(p.alpha));
  return out;
}

SynthOutput ReflectionLinear::synthesize(const SynthInput& in, Rng& rng) const {
  LinearBlendParams p;
  p.alpha = rng.uniform(o_.alpha_lo, o_.alpha_hi);
  p.scale = rng.uniform(o_.scale_lo, o_.scale_hi);
  p.sigma = rng.uniform(o_.sigma_lo, o_.sigma_hi);
  return synthesize_linear_blend(in.background, in.layer, p);
}

void register_linear_blend_synth() {
  synths().add("reflection_linear",
               "Location-aware SIRR (Eq. 6): I = (alpha T^2.2 + R^2.2)^(1/2.2), alpha ~ U[0.8, 1]; keeps R "
               "and alpha ([synth.reflection_linear])",
               [](const Config& full) -> SynthPtr {
                 return std::make_shared<ReflectionLinear>(LinearBlendOptions::from_config(full));
               });
}

}  // namespace dmgn::data
