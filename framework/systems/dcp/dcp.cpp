#include "systems/dcp/dcp.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/options.h"

namespace dmgn::models {

namespace dcp {

torch::Tensor dark_channel(const torch::Tensor& x, int64_t patch) {
  const auto m = std::get<0>(x.min(1, true));
  // max_pool2d pads with -inf, so the min over a truncated window of -(-m) is the min inside it.
  return -torch::max_pool2d(-m, {patch, patch}, {1, 1}, {patch / 2, patch / 2});
}

namespace {

// Sums over [i - r, i + r] along `dim`, the window truncated at the ends (cumulative sums).
torch::Tensor box_sum(const torch::Tensor& x, int64_t r, int64_t dim) {
  const int64_t n = x.size(dim);
  auto shape = x.sizes().vec();
  shape[static_cast<size_t>(dim)] = 1;
  const auto c = torch::cat({torch::zeros(shape, x.options()), x.cumsum(dim)}, dim);  // c[i] = sum x[0, i)
  const auto idx = torch::arange(n, torch::TensorOptions().dtype(torch::kLong).device(x.device()));
  const auto hi = (idx + r + 1).clamp_max(n), lo = (idx - r).clamp_min(0);
  return c.index_select(dim, hi) - c.index_select(dim, lo);
}

}  // namespace

torch::Tensor box_mean(const torch::Tensor& x, int64_t r) {
  const auto d = x.to(torch::kDouble);
  const auto sums = box_sum(box_sum(d, r, 2), r, 3);
  auto ones = torch::ones({1, 1, x.size(2), x.size(3)}, d.options());
  const auto count = box_sum(box_sum(ones, r, 2), r, 3);
  return (sums / count).to(x.scalar_type());
}

torch::Tensor guided_filter(const torch::Tensor& guide, const torch::Tensor& p, int64_t r, double eps) {
  const auto mean_i = box_mean(guide, r), mean_p = box_mean(p, r);
  const auto var_i = box_mean(guide * guide, r) - mean_i * mean_i;
  const auto cov_ip = box_mean(guide * p, r) - mean_i * mean_p;
  const auto a = cov_ip / (var_i + eps);
  const auto b = mean_p - a * mean_i;
  return box_mean(a, r) * guide + box_mean(b, r);
}

torch::Tensor airlight(const torch::Tensor& image, const torch::Tensor& dark, double top_fraction, bool brightest) {
  const int64_t n = image.size(0), pixels = image.size(2) * image.size(3);
  const int64_t k = std::max<int64_t>(1, static_cast<int64_t>(std::floor(static_cast<double>(pixels) * top_fraction)));
  const auto top = std::get<1>(dark.reshape({n, pixels}).topk(k, 1));    // N x k
  const auto colours = image.reshape({n, 3, pixels}).gather(2, top.unsqueeze(1).expand({n, 3, k}));  // N x 3 x k
  if (!brightest) return colours.mean(2);
  const auto pick = colours.sum(1).argmax(1);  // N: the candidate of highest intensity
  return colours.gather(2, pick.view({n, 1, 1}).expand({n, 3, 1})).squeeze(2);
}

}  // namespace dcp

DarkChannelPrior::DarkChannelPrior(const Config& cfg) {
  std::string airlight, refine;
  read_options(cfg.sub("model"), {{"patch", &patch_},
                                  {"omega", &omega_},
                                  {"t0", &t0_},
                                  {"top_fraction", &top_fraction_},
                                  {"airlight", &airlight},
                                  {"refinement", &refine},
                                  {"guided_radius", &radius_},
                                  {"guided_eps", &eps_}});
  if (patch_ < 1 || patch_ % 2 == 0)
    throw ConfigError(fmt::format("config key 'model.patch' = {} must be odd and >= 1 (a window centred on the pixel)",
                                  patch_));
  if (airlight != "brightest" && airlight != "mean")
    throw ConfigError(fmt::format("config key 'model.airlight': '{}' is not one of brightest, mean", airlight));
  if (refine != "guided" && refine != "none")
    throw ConfigError(fmt::format("config key 'model.refinement': '{}' is not one of guided, none", refine));
  brightest_ = airlight == "brightest";
  refine_ = refine == "guided";
  spec_.input_range = InputRange::zero_one;
  spec_.task = cfg.get_string("task.name");
  spec_.primary = "background";
  spec_.outputs = {{"background", OutputDecl::Kind::image, false, "J, the haze-free image (Eq. 22), clipped to [0, 1]", ""},
                   {"transmission", OutputDecl::Kind::map, false,
                    "t, the transmission (guided-filtered with model.refinement = \"guided\")", ""},
                   {"airlight", OutputDecl::Kind::map, false, "A, the atmospheric light per image (N x 3 x 1 x 1)", ""}};
}

Outputs DarkChannelPrior::forward(const torch::Tensor& input) {
  if (input.dim() != 4 || input.size(1) != 3)
    throw DataError(fmt::format("dcp: the input must be N x 3 x H x W, not {}", fmt::join(input.sizes().vec(), " x ")));
  const auto image = input.to(torch::kFloat32);
  const int64_t n = image.size(0);
  const auto a = dcp::airlight(image, dcp::dark_channel(image, patch_), top_fraction_, brightest_)
                     .clamp_min(1e-3)
                     .view({n, 3, 1, 1});
  auto t = 1 - omega_ * dcp::dark_channel(image / a, patch_);
  if (refine_) {
    // The grey guide of He's code (rgb2gray): 0.2989 R + 0.5870 G + 0.1140 B.
    const auto w = torch::tensor({0.2989f, 0.5870f, 0.1140f}, image.options()).view({1, 3, 1, 1});
    t = dcp::guided_filter((image * w).sum(1, true), t, radius_, eps_);
  }
  Outputs out;
  out.set("background", ((image - a) / t.clamp_min(t0_) + a).clamp(0, 1).to(input.scalar_type()));
  out.set("transmission", t.to(input.scalar_type()));
  out.set("airlight", a.to(input.scalar_type()));
  return out;
}

}  // namespace dmgn::models
