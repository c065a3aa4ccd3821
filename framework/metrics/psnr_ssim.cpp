#include "metrics/psnr_ssim.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <sstream>

#include "core/error.h"

namespace dmgn::metrics {

namespace {

// One image channel (or the Y plane) in the preset's working scale, row-major.
struct Plane {
  int64_t h = 0, w = 0;
  std::vector<double> v;
  double at(int64_t y, int64_t x) const { return v[static_cast<size_t>(y * w + x)]; }
};
using Image = std::vector<Plane>;

std::string shape_str(const torch::Tensor& t) {
  std::ostringstream s;
  s << t.sizes();
  return s.str();
}

std::string where(const char* fn, Preset p) {
  return std::string("metrics::") + fn + "[" + preset_name(p) + "]: ";
}

int64_t min_side(Preset p) {
  switch (p) {
    case Preset::real20: return 7;
    case Preset::rain100:
    case Preset::basicsr: return 11;
    case Preset::sots: return 1;
  }
  return 1;
}

void check_pair(const torch::Tensor& out, const torch::Tensor& gt, Preset p, const char* fn) {
  const std::string at = where(fn, p);
  for (const auto& [t, name] : {std::pair{&out, "out"}, std::pair{&gt, "gt"}}) {
    if (!t->defined()) throw DataError(at + "'" + name + "' is an undefined tensor");
    if (t->dim() != 3 && t->dim() != 4)
      throw DataError(at + "'" + name + "' must be CxHxW or NxCxHxW, got shape " + shape_str(*t));
    if (!t->is_floating_point())
      throw DataError(at + "'" + name + "' must be a floating-point image in [0,1], got " +
                      std::string(c10::toString(t->scalar_type())));
  }
  if (out.sizes() != gt.sizes())
    throw DataError(at + "'out' has shape " + shape_str(out) + " but 'gt' has " + shape_str(gt));
  const int64_t c = out.size(-3), h = out.size(-2), w = out.size(-1);
  if (out.numel() == 0) throw DataError(at + "'out' and 'gt' are empty, shape " + shape_str(out));
  if (p == Preset::rain100 && c != 3)
    throw DataError(at + "needs RGB images (3 channels) for the Y conversion, got shape " +
                    shape_str(out));
  if (std::min(h, w) < min_side(p))
    throw DataError(at + "images must be at least " + std::to_string(min_side(p)) + "x" +
                    std::to_string(min_side(p)) + ", got shape " + shape_str(out));
}

double clip01(double v) { return v < 0.0 ? 0.0 : (v > 1.0 ? 1.0 : v); }  // NaN passes through

// Splits a checked tensor into per-image planes: clipped to [0,1], then the preset's transform
// (x255 for real20/basicsr; the Y plane in [0,1] for rain100; as is for sots).
std::vector<Image> to_images(const torch::Tensor& t, Preset p) {
  const torch::Tensor d = (t.dim() == 3 ? t.unsqueeze(0) : t)
                              .detach()
                              .to(torch::kCPU, torch::kFloat64)
                              .contiguous();
  const int64_t n = d.size(0), c = d.size(1), h = d.size(2), w = d.size(3);
  const double* src = d.data_ptr<double>();
  const size_t hw = static_cast<size_t>(h * w);
  std::vector<Image> images(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const double* img = src + static_cast<size_t>(i * c) * hw;
    Image& planes = images[static_cast<size_t>(i)];
    if (p == Preset::rain100) {
      // MATLAB rgb2ycbcr on double images: Y = T(1,:)/255 . rgb + 16/255.
      Plane y{h, w, std::vector<double>(hw)};
      for (size_t k = 0; k < hw; ++k)
        y.v[k] = 65.481 / 255.0 * clip01(img[k]) + 128.553 / 255.0 * clip01(img[hw + k]) +
                 24.966 / 255.0 * clip01(img[2 * hw + k]) + 16.0 / 255.0;
      planes.push_back(std::move(y));
      continue;
    }
    const double scale = (p == Preset::sots) ? 1.0 : 255.0;
    for (int64_t ch = 0; ch < c; ++ch) {
      Plane pl{h, w, std::vector<double>(hw)};
      const double* s = img + static_cast<size_t>(ch) * hw;
      for (size_t k = 0; k < hw; ++k) pl.v[k] = clip01(s[k]) * scale;
      planes.push_back(std::move(pl));
    }
  }
  return images;
}

double mse(const Plane& a, const Plane& b) {
  double sum = 0.0;
  for (size_t k = 0; k < a.v.size(); ++k) {
    const double d = a.v[k] - b.v[k];
    sum += d * d;
  }
  return sum / static_cast<double>(a.v.size());
}

double psnr_from_mse(double m, double peak) {
  if (std::isnan(m)) return m;
  if (m <= 0.0) return kPsnrCap;
  return std::min(kPsnrCap, 10.0 * std::log10(peak * peak / m));
}

double image_psnr(const Image& a, const Image& b, Preset p) {
  switch (p) {
    case Preset::real20: {  // per channel, averaged
      double sum = 0.0;
      for (size_t c = 0; c < a.size(); ++c) sum += psnr_from_mse(mse(a[c], b[c]), 255.0);
      return sum / static_cast<double>(a.size());
    }
    case Preset::rain100: return psnr_from_mse(mse(a[0], b[0]), 1.0);
    case Preset::sots:
    case Preset::basicsr: {  // one mse over all channels (equal-sized planes)
      double sum = 0.0;
      for (size_t c = 0; c < a.size(); ++c) sum += mse(a[c], b[c]);
      return psnr_from_mse(sum / static_cast<double>(a.size()),
                           p == Preset::sots ? 1.0 : 255.0);
    }
  }
  return 0.0;
}

// ---- SSIM -------------------------------------------------------------------------------

struct SsimSpec {
  std::vector<double> kernel;  // separable 1-D window, sums to 1
  bool zero_pad = false;       // true: pad by radius with zeros (same-size map); false: valid
  double scale = 1.0;          // applied to the planes before SSIM (rain100: Y*255)
  double c1 = 0.0, c2 = 0.0;
  double cov_norm = 1.0;  // skimage's sample covariance factor NP/(NP-1)
};

std::vector<double> gaussian_kernel(int size, double sigma) {
  std::vector<double> k(static_cast<size_t>(size));
  double sum = 0.0;
  for (int i = 0; i < size; ++i) {
    const double x = i - size / 2;
    k[static_cast<size_t>(i)] = std::exp(-(x * x) / (2.0 * sigma * sigma));
    sum += k[static_cast<size_t>(i)];
  }
  for (double& v : k) v /= sum;
  return k;
}

SsimSpec ssim_spec(Preset p) {
  SsimSpec s;
  switch (p) {
    case Preset::real20:
      s.kernel.assign(7, 1.0 / 7.0);
      s.c1 = std::pow(0.01 * 255.0, 2);
      s.c2 = std::pow(0.03 * 255.0, 2);
      s.cov_norm = 49.0 / 48.0;
      break;
    case Preset::rain100:
      s.kernel = gaussian_kernel(11, 1.5);
      s.scale = 255.0;
      s.c1 = std::pow(0.01 * 255.0, 2);
      s.c2 = std::pow(0.03 * 255.0, 2);
      break;
    case Preset::sots:
      s.kernel = gaussian_kernel(11, 1.5);
      s.zero_pad = true;
      s.c1 = 0.01 * 0.01;
      s.c2 = 0.03 * 0.03;
      break;
    case Preset::basicsr:
      s.kernel = gaussian_kernel(11, 1.5);
      s.c1 = std::pow(0.01 * 255.0, 2);
      s.c2 = std::pow(0.03 * 255.0, 2);
      break;
  }
  return s;
}

// Separable 'valid' correlation: (h-k+1) x (w-k+1).
Plane filter_valid(const Plane& in, const std::vector<double>& k) {
  const int64_t n = static_cast<int64_t>(k.size());
  const int64_t oh = in.h - n + 1, ow = in.w - n + 1;
  Plane rows{in.h, ow, std::vector<double>(static_cast<size_t>(in.h * ow))};
  for (int64_t y = 0; y < in.h; ++y)
    for (int64_t x = 0; x < ow; ++x) {
      double s = 0.0;
      for (int64_t j = 0; j < n; ++j) s += k[static_cast<size_t>(j)] * in.at(y, x + j);
      rows.v[static_cast<size_t>(y * ow + x)] = s;
    }
  Plane out{oh, ow, std::vector<double>(static_cast<size_t>(oh * ow))};
  for (int64_t y = 0; y < oh; ++y)
    for (int64_t x = 0; x < ow; ++x) {
      double s = 0.0;
      for (int64_t j = 0; j < n; ++j) s += k[static_cast<size_t>(j)] * rows.at(y + j, x);
      out.v[static_cast<size_t>(y * ow + x)] = s;
    }
  return out;
}

Plane prepare(const Plane& in, const SsimSpec& s) {
  if (!s.zero_pad && s.scale == 1.0) return in;
  const int64_t r = s.zero_pad ? static_cast<int64_t>(s.kernel.size()) / 2 : 0;
  Plane out{in.h + 2 * r, in.w + 2 * r, {}};
  out.v.assign(static_cast<size_t>(out.h * out.w), 0.0);
  for (int64_t y = 0; y < in.h; ++y)
    for (int64_t x = 0; x < in.w; ++x)
      out.v[static_cast<size_t>((y + r) * out.w + x + r)] = in.at(y, x) * s.scale;
  return out;
}

Plane product(const Plane& a, const Plane& b) {
  Plane out{a.h, a.w, std::vector<double>(a.v.size())};
  for (size_t k = 0; k < a.v.size(); ++k) out.v[k] = a.v[k] * b.v[k];
  return out;
}

// Mean of the SSIM map of one plane pair.
double plane_ssim(const Plane& a_in, const Plane& b_in, const SsimSpec& s) {
  const Plane a = prepare(a_in, s), b = prepare(b_in, s);
  const Plane ux = filter_valid(a, s.kernel), uy = filter_valid(b, s.kernel);
  const Plane uxx = filter_valid(product(a, a), s.kernel);
  const Plane uyy = filter_valid(product(b, b), s.kernel);
  const Plane uxy = filter_valid(product(a, b), s.kernel);
  double sum = 0.0;
  for (size_t k = 0; k < ux.v.size(); ++k) {
    const double mx = ux.v[k], my = uy.v[k];
    const double vx = s.cov_norm * (uxx.v[k] - mx * mx);
    const double vy = s.cov_norm * (uyy.v[k] - my * my);
    const double vxy = s.cov_norm * (uxy.v[k] - mx * my);
    sum += ((2.0 * mx * my + s.c1) * (2.0 * vxy + s.c2)) /
           ((mx * mx + my * my + s.c1) * (vx + vy + s.c2));
  }
  return sum / static_cast<double>(ux.v.size());
}

double image_ssim(const Image& a, const Image& b, const SsimSpec& s) {
  // Every preset averages equal-sized per-channel maps, so the mean of channel means is also
  // the sots preset's mean over the whole map.
  double sum = 0.0;
  for (size_t c = 0; c < a.size(); ++c) sum += plane_ssim(a[c], b[c], s);
  return sum / static_cast<double>(a.size());
}

template <class PerImage>
double batch_mean(const std::vector<Image>& a, const std::vector<Image>& b, PerImage f) {
  double sum = 0.0;
  for (size_t i = 0; i < a.size(); ++i) sum += f(a[i], b[i]);
  return sum / static_cast<double>(a.size());
}

}  // namespace

std::string preset_name(Preset preset) {
  switch (preset) {
    case Preset::real20: return "real20";
    case Preset::rain100: return "rain100";
    case Preset::sots: return "sots";
    case Preset::basicsr: return "basicsr";
  }
  throw Error("metrics::preset_name: invalid Preset value " +
              std::to_string(static_cast<int>(preset)));
}

std::vector<std::string> preset_names() {
  return {"real20", "rain100", "sots", "basicsr"};
}

Preset preset_from_string(const std::string& name) {
  for (Preset p : {Preset::real20, Preset::rain100, Preset::sots, Preset::basicsr})
    if (preset_name(p) == name) return p;
  std::string known;
  for (const auto& n : preset_names()) known += (known.empty() ? "" : ", ") + n;
  throw ConfigError("metrics: unknown metric preset '" + name + "' (known: " + known + ")");
}

double psnr(const torch::Tensor& out, const torch::Tensor& gt, Preset preset) {
  check_pair(out, gt, preset, "psnr");
  const auto a = to_images(out, preset), b = to_images(gt, preset);
  return batch_mean(a, b, [&](const Image& x, const Image& y) { return image_psnr(x, y, preset); });
}

double ssim(const torch::Tensor& out, const torch::Tensor& gt, Preset preset) {
  check_pair(out, gt, preset, "ssim");
  const auto a = to_images(out, preset), b = to_images(gt, preset);
  const SsimSpec spec = ssim_spec(preset);
  return batch_mean(a, b, [&](const Image& x, const Image& y) { return image_ssim(x, y, spec); });
}

Quality assess(const torch::Tensor& out, const torch::Tensor& gt, Preset preset) {
  check_pair(out, gt, preset, "assess");
  const auto a = to_images(out, preset), b = to_images(gt, preset);
  const SsimSpec spec = ssim_spec(preset);
  Quality q;
  q.psnr = batch_mean(a, b, [&](const Image& x, const Image& y) { return image_psnr(x, y, preset); });
  q.ssim = batch_mean(a, b, [&](const Image& x, const Image& y) { return image_ssim(x, y, spec); });
  return q;
}

}  // namespace dmgn::metrics
