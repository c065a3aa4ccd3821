#include "metrics/psnr_ssim.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <sstream>

#include "core/error.h"

namespace dmgn::metrics {

namespace {

// One image channel (or the Y plane) in the spec's working scale, cropped, row-major.
struct Plane {
  int64_t h = 0, w = 0;
  std::vector<double> v;
};
using Image = std::vector<Plane>;

std::string shape_str(const torch::Tensor& t) {
  std::ostringstream s;
  s << t.sizes();
  return s.str();
}

void check_pair(const torch::Tensor& out, const torch::Tensor& gt, const Spec& spec, const char* fn) {
  spec.validate();
  const std::string at = std::string("metrics::") + fn + "[" + spec.name + "]: ";
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
  if (spec.color != Spec::Color::rgb && c != 3)
    throw DataError(at + "needs RGB images (3 channels) for the Y conversion, got shape " +
                    shape_str(out));
  const int64_t side = spec.min_side();
  if (std::min(h, w) < side)
    throw DataError(at + "images must be at least " + std::to_string(side) + "x" +
                    std::to_string(side) + " (crop " + std::to_string(spec.crop_border) +
                    ", window " + std::to_string(spec.window_size) + "), got shape " +
                    shape_str(out));
}

double clip01(double v) { return v < 0.0 ? 0.0 : (v > 1.0 ? 1.0 : v); }  // NaN passes through

// Splits a checked tensor into per-image planes: clip to [0,1], quantise, colour, working
// scale and border crop as the spec says (spec.h, steps 1-4).
std::vector<Image> to_images(const torch::Tensor& t, const Spec& spec) {
  const torch::Tensor d = (t.dim() == 3 ? t.unsqueeze(0) : t)
                              .detach()
                              .to(torch::kCPU, torch::kFloat64)
                              .contiguous();
  const int64_t n = d.size(0), c = d.size(1), h = d.size(2), w = d.size(3);
  const int64_t cb = spec.crop_border, oh = h - 2 * cb, ow = w - 2 * cb;
  const double range = spec.data_range;
  const bool q = spec.quantise;
  const double* src = d.data_ptr<double>();
  const size_t hw = static_cast<size_t>(h * w), ohw = static_cast<size_t>(oh * ow);
  // The 8-bit value: rounded (nearbyint: half to even, as numpy / OpenCV), or truncated after
  // x 255 in float32 (numpy's astype(uint8) in MBN's scripts).
  const bool trunc = spec.truncate;
  auto u8 = [trunc](double x) {
    return trunc ? std::floor(static_cast<double>(static_cast<float>(clip01(x)) * 255.0f))
                 : std::nearbyint(clip01(x) * 255.0);
  };
  // In [0,1], k/255 when quantising.
  auto unit = [q, &u8](double x) { return q ? u8(x) / 255.0 : clip01(x); };
  // In the working scale; quantised values at range 255 are the exact integers.
  auto work = [q, range, &u8](double x) {
    if (q) {
      const double v = u8(x);
      return range == 255.0 ? v : v / 255.0 * range;
    }
    return clip01(x) * range;
  };
  std::vector<Image> images(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const double* img = src + static_cast<size_t>(i * c) * hw;
    Image& planes = images[static_cast<size_t>(i)];
    if (spec.color == Spec::Color::y_full) {
      // OpenCV's RGB2YCrCb: fixed-point on 8-bit values (yuv_shift 14), else the BT.601 weights.
      Plane y{oh, ow, std::vector<double>(ohw)};
      for (int64_t r = 0; r < oh; ++r)
        for (int64_t x = 0; x < ow; ++x) {
          const size_t k = static_cast<size_t>((r + cb) * w + x + cb);
          double y255;
          if (q) {
            const auto R = static_cast<int64_t>(u8(img[k])), G = static_cast<int64_t>(u8(img[hw + k])),
                       B = static_cast<int64_t>(u8(img[2 * hw + k]));
            y255 = static_cast<double>((4899 * R + 9617 * G + 1868 * B + (1 << 13)) >> 14);
          } else {
            y255 = 255.0 * (0.299 * clip01(img[k]) + 0.587 * clip01(img[hw + k]) + 0.114 * clip01(img[2 * hw + k]));
          }
          y.v[static_cast<size_t>(r * ow + x)] = range == 255.0 ? y255 : y255 / 255.0 * range;
        }
      planes.push_back(std::move(y));
      continue;
    }
    if (spec.color == Spec::Color::y) {
      // MATLAB rgb2ycbcr on double images: Y = T(1,:)/255 . rgb + 16/255, then x range.
      Plane y{oh, ow, std::vector<double>(ohw)};
      for (int64_t r = 0; r < oh; ++r)
        for (int64_t x = 0; x < ow; ++x) {
          const size_t k = static_cast<size_t>((r + cb) * w + x + cb);
          const double y01 = 65.481 / 255.0 * unit(img[k]) + 128.553 / 255.0 * unit(img[hw + k]) +
                             24.966 / 255.0 * unit(img[2 * hw + k]) + 16.0 / 255.0;
          y.v[static_cast<size_t>(r * ow + x)] = range == 1.0 ? y01 : y01 * range;
        }
      planes.push_back(std::move(y));
      continue;
    }
    for (int64_t ch = 0; ch < c; ++ch) {
      Plane pl{oh, ow, std::vector<double>(ohw)};
      const double* s = img + static_cast<size_t>(ch) * hw;
      for (int64_t r = 0; r < oh; ++r)
        for (int64_t x = 0; x < ow; ++x)
          pl.v[static_cast<size_t>(r * ow + x)] = work(s[(r + cb) * w + x + cb]);
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

double image_psnr(const Image& a, const Image& b, const Spec& spec) {
  double sum = 0.0;
  if (spec.psnr == Spec::Psnr::channel_mean) {
    for (size_t c = 0; c < a.size(); ++c) sum += psnr_from_mse(mse(a[c], b[c]), spec.data_range);
    return sum / static_cast<double>(a.size());
  }
  // One MSE over all channels: the mean of the equal-sized planes' MSEs.
  for (size_t c = 0; c < a.size(); ++c) sum += mse(a[c], b[c]);
  return psnr_from_mse(sum / static_cast<double>(a.size()), spec.data_range);
}

// ---- SSIM -------------------------------------------------------------------------------

std::vector<double> gaussian_kernel(int64_t size, double sigma) {
  std::vector<double> k(static_cast<size_t>(size));
  double sum = 0.0;
  for (int64_t i = 0; i < size; ++i) {
    const double x = static_cast<double>(i - size / 2);
    k[static_cast<size_t>(i)] = std::exp(-(x * x) / (2.0 * sigma * sigma));
    sum += k[static_cast<size_t>(i)];
  }
  for (double& v : k) v /= sum;
  return k;
}

// Mean SSIM maps with one spec; the buffers live as long as the object (one per call of
// ssim/assess), so nothing is allocated per row or pixel.
class SsimFilter {
 public:
  explicit SsimFilter(const Spec& s)
      : kernel_(s.window == Spec::Window::gaussian
                    ? gaussian_kernel(s.window_size, s.sigma)
                    : std::vector<double>(static_cast<size_t>(s.window_size),
                                          1.0 / static_cast<double>(s.window_size))),
        zero_pad_(s.boundary == Spec::Boundary::zero),
        c1_((s.k1 * s.data_range) * (s.k1 * s.data_range)),
        c2_((s.k2 * s.data_range) * (s.k2 * s.data_range)) {
    if (s.sample_covariance) {
      const double np = static_cast<double>(s.window_size * s.window_size);
      cov_norm_ = np / (np - 1.0);
    }
  }

  // Mean over channels of the per-channel map means (equal-sized maps, so for zero padding
  // this is also pytorch-ssim's mean over the whole map).
  double image(const Image& a, const Image& b) {
    double sum = 0.0;
    for (size_t c = 0; c < a.size(); ++c) sum += plane(a[c], b[c]);
    return sum / static_cast<double>(a.size());
  }

 private:
  double plane(const Plane& a, const Plane& b) {
    if (!zero_pad_) return valid_mean(a.v.data(), b.v.data(), a.h, a.w);
    const int64_t r = static_cast<int64_t>(kernel_.size()) / 2, ph = a.h + 2 * r, pw = a.w + 2 * r;
    pad_a_.assign(static_cast<size_t>(ph * pw), 0.0);
    pad_b_.assign(static_cast<size_t>(ph * pw), 0.0);
    for (int64_t y = 0; y < a.h; ++y) {
      std::copy_n(a.v.data() + y * a.w, a.w, pad_a_.data() + (y + r) * pw + r);
      std::copy_n(b.v.data() + y * b.w, b.w, pad_b_.data() + (y + r) * pw + r);
    }
    return valid_mean(pad_a_.data(), pad_b_.data(), ph, pw);
  }

  // Horizontal pass of input row i into ring slot i % n: the five moments x, y, xx, yy, xy.
  void horizontal(const double* a, const double* b, int64_t w, int64_t ow, int64_t i) {
    const int64_t n = static_cast<int64_t>(kernel_.size());
    const double* ra = a + i * w;
    const double* rb = b + i * w;
    double* paa = products_.data();
    double* pbb = paa + w;
    double* pab = pbb + w;
    for (int64_t x = 0; x < w; ++x) {
      paa[x] = ra[x] * ra[x];
      pbb[x] = rb[x] * rb[x];
      pab[x] = ra[x] * rb[x];
    }
    const double* src[5] = {ra, rb, paa, pbb, pab};
    for (int64_t m = 0; m < 5; ++m) {
      for (int64_t j = 0; j < n; ++j) taps_[static_cast<size_t>(j)] = src[m] + j;
      correlate(taps_.data(), ring_.data() + ((m * n) + i % n) * ow, ow);
    }
  }

  // dst[x] = sum_j k[j] * taps[j][x], summed in order j = 0, 1, ... (blocks of 8 outputs kept
  // in registers; the same rounding as one accumulator per output).
  void correlate(const double* const* taps, double* __restrict dst, int64_t count) const {
    const int64_t n = static_cast<int64_t>(kernel_.size());
    const double* k = kernel_.data();
    int64_t x = 0;
    for (; x + 8 <= count; x += 8) {
      double acc[8] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
      for (int64_t j = 0; j < n; ++j) {
        const double kj = k[j];
        const double* t = taps[j] + x;
        for (int i = 0; i < 8; ++i) acc[i] += kj * t[i];
      }
      for (int i = 0; i < 8; ++i) dst[x + i] = acc[i];
    }
    for (; x < count; ++x) {
      double acc = 0.0;
      for (int64_t j = 0; j < n; ++j) acc += k[j] * taps[j][x];
      dst[x] = acc;
    }
  }

  // Mean of the 'valid' SSIM map of two h x w planes (Wang et al. 2004, Eq. 13).
  double valid_mean(const double* a, const double* b, int64_t h, int64_t w) {
    const int64_t n = static_cast<int64_t>(kernel_.size());
    const int64_t oh = h - n + 1, ow = w - n + 1;
    products_.resize(static_cast<size_t>(3 * w));
    ring_.resize(static_cast<size_t>(5 * n * ow));
    sums_.resize(static_cast<size_t>(5 * ow));
    taps_.resize(static_cast<size_t>(n));
    for (int64_t i = 0; i < n - 1; ++i) horizontal(a, b, w, ow, i);
    double sum = 0.0;
    for (int64_t y = 0; y < oh; ++y) {
      horizontal(a, b, w, ow, y + n - 1);
      for (int64_t m = 0; m < 5; ++m) {
        for (int64_t j = 0; j < n; ++j)
          taps_[static_cast<size_t>(j)] = ring_.data() + ((m * n) + (y + j) % n) * ow;
        correlate(taps_.data(), sums_.data() + m * ow, ow);
      }
      const double* ux = sums_.data();
      const double* uy = ux + ow;
      const double* uxx = uy + ow;
      const double* uyy = uxx + ow;
      const double* uxy = uyy + ow;
      for (int64_t x = 0; x < ow; ++x) {
        const double mx = ux[x], my = uy[x];
        const double vx = cov_norm_ * (uxx[x] - mx * mx);
        const double vy = cov_norm_ * (uyy[x] - my * my);
        const double vxy = cov_norm_ * (uxy[x] - mx * my);
        sum += ((2.0 * mx * my + c1_) * (2.0 * vxy + c2_)) /
               ((mx * mx + my * my + c1_) * (vx + vy + c2_));
      }
    }
    return sum / static_cast<double>(oh * ow);
  }

  std::vector<double> kernel_;  // separable 1-D window, sums to 1
  bool zero_pad_ = false;
  double c1_ = 0.0, c2_ = 0.0;
  double cov_norm_ = 1.0;  // skimage's sample covariance factor NP/(NP-1)
  std::vector<double> pad_a_, pad_b_, products_, ring_, sums_;
  std::vector<const double*> taps_;  // the n input rows of one correlate() call
};

template <class PerImage>
double batch_mean(const std::vector<Image>& a, const std::vector<Image>& b, PerImage f) {
  double sum = 0.0;
  for (size_t i = 0; i < a.size(); ++i) sum += f(a[i], b[i]);
  return sum / static_cast<double>(a.size());
}

}  // namespace

double psnr(const torch::Tensor& out, const torch::Tensor& gt, const Spec& spec) {
  check_pair(out, gt, spec, "psnr");
  const auto a = to_images(out, spec), b = to_images(gt, spec);
  return batch_mean(a, b, [&](const Image& x, const Image& y) { return image_psnr(x, y, spec); });
}

double ssim(const torch::Tensor& out, const torch::Tensor& gt, const Spec& spec) {
  check_pair(out, gt, spec, "ssim");
  const auto a = to_images(out, spec), b = to_images(gt, spec);
  SsimFilter filter(spec);
  return batch_mean(a, b, [&](const Image& x, const Image& y) { return filter.image(x, y); });
}

Quality assess(const torch::Tensor& out, const torch::Tensor& gt, const Spec& spec) {
  check_pair(out, gt, spec, "assess");
  const auto a = to_images(out, spec), b = to_images(gt, spec);
  SsimFilter filter(spec);
  Quality q;
  q.psnr = batch_mean(a, b, [&](const Image& x, const Image& y) { return image_psnr(x, y, spec); });
  q.ssim = batch_mean(a, b, [&](const Image& x, const Image& y) { return filter.image(x, y); });
  return q;
}

}  // namespace dmgn::metrics
