#include "losses/ssim_loss.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <vector>

#include "core/error.h"

namespace dmgn::losses {

SsimWindow SsimWindow::from_config(const Config& c) {
  SsimWindow w;
  const auto kind = c.get_string("window");
  if (kind != "gaussian" && kind != "uniform")
    throw ConfigError(fmt::format("config key 'loss.ssim.window': '{}' is not one of gaussian, uniform", kind));
  w.gaussian = kind == "gaussian";
  w.size = c.get_int("window_size");
  if (w.size < 3 || w.size % 2 == 0)
    throw ConfigError(fmt::format("config key 'loss.ssim.window_size': {} is not an odd number >= 3", w.size));
  w.sigma = c.get_float("sigma");
  w.k1 = c.get_float("k1");
  w.k2 = c.get_float("k2");
  if (!(w.sigma > 0) || !(w.k1 > 0) || !(w.k2 > 0))
    throw ConfigError("config keys 'loss.ssim.sigma', '.k1' and '.k2' must be > 0");
  const auto padding = c.get_string("padding");
  if (padding != "valid" && padding != "zero")
    throw ConfigError(fmt::format("config key 'loss.ssim.padding': '{}' is not one of valid, zero", padding));
  w.zero_padding = padding == "zero";
  return w;
}

namespace {

// The separable window's 1-D weights (sum 1), float64 on the CPU.
torch::Tensor window_1d(const SsimWindow& w) {
  auto g = torch::empty({w.size}, torch::kFloat64);
  auto a = g.accessor<double, 1>();
  double sum = 0;
  for (int64_t i = 0; i < w.size; ++i) {
    const double x = static_cast<double>(i - w.size / 2);
    a[i] = w.gaussian ? std::exp(-x * x / (2 * w.sigma * w.sigma)) : 1.0;
    sum += a[i];
  }
  return g / sum;
}

// Depthwise separable filtering, without padding ("valid") or zero-padded by `pad` on every side
// (the same as a 2-D zero-padded convolution, the window being separable).
torch::Tensor filter(const torch::Tensor& x, const torch::Tensor& kh, const torch::Tensor& kw, int64_t pad) {
  const int64_t c = x.size(1);
  const torch::Tensor none;
  const std::vector<int64_t> one{1, 1}, pad_h{pad, 0}, pad_w{0, pad};
  auto y = torch::conv2d(x, kh.expand({c, 1, kh.size(2), 1}), none, torch::IntArrayRef(one), torch::IntArrayRef(pad_h),
                         torch::IntArrayRef(one), c);
  return torch::conv2d(y, kw.expand({c, 1, 1, kw.size(3)}), none, torch::IntArrayRef(one), torch::IntArrayRef(pad_w),
                       torch::IntArrayRef(one), c);
}

}  // namespace

namespace {

void check_shapes(const torch::Tensor& x, const torch::Tensor& y, const SsimWindow& w) {
  if (x.dim() != 4 || x.sizes() != y.sizes())
    throw Error(fmt::format("ssim: expected two N x C x H x W tensors of one shape, got {} and {}",
                            fmt::join(x.sizes(), "x"), fmt::join(y.sizes(), "x")));
  if (!w.zero_padding && (x.size(2) < w.size || x.size(3) < w.size))
    throw Error(fmt::format("ssim: a {}x{} image is smaller than the {}x{} window", x.size(2), x.size(3), w.size,
                            w.size));
}

// Statistics in float32 at least (bf16 moments lose the variance).
torch::ScalarType stats_dtype(const torch::Tensor& x) {
  return x.scalar_type() == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
}

// The mean SSIM map with the 1-D window `g` already on the inputs' device, in stats_dtype.
torch::Tensor mean_map(const torch::Tensor& x, const torch::Tensor& y, const torch::Tensor& g, const SsimWindow& w) {
  const auto a = x.to(g.scalar_type()), b = y.to(g.scalar_type());
  const auto kh = g.view({1, 1, w.size, 1}), kw = g.view({1, 1, 1, w.size});
  const int64_t pad = w.zero_padding ? w.size / 2 : 0;
  const auto mu_a = filter(a, kh, kw, pad), mu_b = filter(b, kh, kw, pad);
  const auto var_a = filter(a * a, kh, kw, pad) - mu_a * mu_a;
  const auto var_b = filter(b * b, kh, kw, pad) - mu_b * mu_b;
  const auto cov = filter(a * b, kh, kw, pad) - mu_a * mu_b;
  const double c1 = w.k1 * w.k1, c2 = w.k2 * w.k2;
  const auto map = (2 * mu_a * mu_b + c1) * (2 * cov + c2) / ((mu_a * mu_a + mu_b * mu_b + c1) * (var_a + var_b + c2));
  return map.mean();
}

}  // namespace

torch::Tensor ssim_mean(const torch::Tensor& x, const torch::Tensor& y, const SsimWindow& w) {
  check_shapes(x, y, w);
  return mean_map(x, y, window_1d(w).to(x.device(), stats_dtype(x)), w);
}

torch::Tensor SsimLoss::operator()(const torch::Tensor& y, const torch::Tensor& target) {
  check_shapes(y, target, w_);
  // The window on the inputs' device, made once: a host-to-device copy per step would make the
  // step wait for the host (and could not be captured in a CUDA graph).
  if (!window_.defined() || window_.device() != y.device() || window_.scalar_type() != stats_dtype(y))
    window_ = window_1d(w_).to(y.device(), stats_dtype(y));
  const auto unit = [&](const torch::Tensor& t) {
    return range_ == models::InputRange::minus_one_one ? (t + 1.0) * 0.5 : t;
  };
  return 1.0 - mean_map(unit(y), unit(target), window_, w_);
}

void register_ssim_loss() {
  losses().add("ssim", "1 - SSIM (Gaussian 11x11 window by default; [loss.ssim])",
               [](const Config& cfg, const LossContext& ctx) -> LossTermPtr {
                 return std::make_shared<SsimLoss>(SsimWindow::from_config(cfg.sub("loss.ssim")), ctx.range);
               });
  // No padding ("valid" filtering): the window must fit; zero-padded, any size.
  register_loss_need("ssim", [](const Config& cfg) {
    models::InputRequirement r;
    if (cfg.get_string("loss.ssim.padding") == "zero") return r;
    r.min_side = cfg.get_int("loss.ssim.window_size");
    r.why = fmt::format("loss.ssim.window_size: its {0}x{0} window is not padded", r.min_side);
    return r;
  });
}

}  // namespace dmgn::losses
