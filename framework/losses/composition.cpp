#include "losses/composition.h"

#include <fmt/format.h>

#include "core/dtype.h"
#include "core/error.h"

namespace dmgn::losses {

namespace {

using Batch = std::map<std::string, torch::Tensor>;

torch::Tensor field(const Batch& b, const char* name, const char* loss) {
  const auto it = b.find(name);
  if (it == b.end() || !it->second.defined())
    throw Error(fmt::format("loss '{}' needs the batch field '{}' (a synthesis that records it)", loss, name));
  return it->second;
}

// Model space -> [0, 1].
torch::Tensor unit(const torch::Tensor& x, models::InputRange r) {
  return r == models::InputRange::minus_one_one ? (x + 1.0) * 0.5 : x;
}

torch::Tensor linear(const torch::Tensor& x) { return x.clamp_min(0).pow(kLinearGamma); }

class RcmapComposition : public BatchLoss {
 public:
  explicit RcmapComposition(models::InputRange r) : r_(r) {}
  torch::Tensor operator()(const torch::Tensor& c, const Batch& b) override {
    const auto i = unit(field(b, "input", "rcmap_composition"), r_);
    const auto t = unit(field(b, "background", "rcmap_composition"), r_);
    const auto rl = unit(field(b, "noise", "rcmap_composition"), r_);
    return (i - ((1 - c) * t + rl)).pow(2).mean();  // Eq. 7-8
  }

 private:
  models::InputRange r_;
};

class RcmapBce : public BatchLoss {
 public:
  RcmapBce(models::InputRange r, double beta) : r_(r), beta_(beta) {}
  torch::Tensor operator()(const torch::Tensor& c, const Batch& b) override {
    const auto gt = rcmap_ground_truth(unit(field(b, "input", "rcmap_bce"), r_),
                                       unit(field(b, "background", "rcmap_bce"), r_), beta_);
    // Written out (autocast refuses binary_cross_entropy on CUDA); log clamped as PyTorch's BCE.
    const auto p = at_least_fp32(c);
    return -(gt * p.log().clamp_min(-100) + (1 - gt) * (1 - p).log().clamp_min(-100)).mean();  // Eq. 16
  }

 private:
  models::InputRange r_;
  double beta_;
};

class Residual : public BatchLoss {
 public:
  // on_reflection: y is R_i (T from the batch); else y is T_i (R from the batch).
  Residual(models::InputRange r, bool on_reflection) : r_(r), on_reflection_(on_reflection) {}
  torch::Tensor operator()(const torch::Tensor& y, const Batch& b) override {
    const char* name = on_reflection_ ? "residual_reflection" : "residual_transmission";
    const auto alpha = field(b, "alpha", name).view({-1, 1, 1, 1});
    const auto i = linear(unit(field(b, "input", name), r_));
    const auto yl = linear(unit(y, r_));
    const auto other = linear(unit(field(b, on_reflection_ ? "background" : "noise", name), r_));
    const auto composed = on_reflection_ ? alpha * other + yl : alpha * yl + other;  // Eq. 6
    return (i - composed).pow(2).mean();
  }

 private:
  models::InputRange r_;
  bool on_reflection_;
};

}  // namespace

torch::Tensor rcmap_ground_truth(const torch::Tensor& input, const torch::Tensor& background, double beta) {
  torch::NoGradGuard g;
  const auto d = at_least_fp32((input - background).abs());
  const auto gray = (0.299 * d.select(1, 0) + 0.587 * d.select(1, 1) + 0.114 * d.select(1, 2)).unsqueeze(1);
  const auto flat = gray.flatten(1);
  const auto lo = std::get<0>(flat.min(1)).view({-1, 1, 1, 1});
  const auto hi = std::get<0>(flat.max(1)).view({-1, 1, 1, 1});
  const auto gamma = torch::clamp_min(lo + beta * (hi - lo), beta);
  return (gray > gamma).to(gray.scalar_type());
}

void register_composition_losses() {
  losses().add("rcmap_composition", "Location-aware SIRR L_C: MSE(I, (1 - C) o T + R) (Eq. 7-8)",
               [](const Config&, const LossContext& ctx) -> LossTermPtr {
                 return std::make_shared<RcmapComposition>(ctx.range);
               });
  losses().add("rcmap_bce", "Location-aware SIRR L_C^B: BCE(C, thresholded |I - T|) (Eq. 16; [loss.rcmap_bce])",
               [](const Config& cfg, const LossContext& ctx) -> LossTermPtr {
                 const double beta = cfg.get_float("loss.rcmap_bce.beta");
                 if (!(beta >= 0 && beta <= 1)) throw ConfigError("config key 'loss.rcmap_bce.beta' must be in [0, 1]");
                 return std::make_shared<RcmapBce>(ctx.range, beta);
               });
  losses().add("residual_reflection", "Location-aware SIRR L_res on R_i: MSE(g(I), alpha g(T) + g(R_i)), g = x^2.2",
               [](const Config&, const LossContext& ctx) -> LossTermPtr {
                 return std::make_shared<Residual>(ctx.range, true);
               });
  losses().add("residual_transmission", "Location-aware SIRR L_res on T_i: MSE(g(I), alpha g(T_i) + g(R)), g = x^2.2",
               [](const Config&, const LossContext& ctx) -> LossTermPtr {
                 return std::make_shared<Residual>(ctx.range, false);
               });
}

}  // namespace dmgn::losses
