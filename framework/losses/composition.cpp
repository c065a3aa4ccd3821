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
  // Which layer y holds: R_i (T from the batch), T_i (R from the batch), or both (cat[T_i, R_i]).
  enum class Scored { reflection, transmission, layers };
  Residual(models::InputRange r, Scored scored) : r_(r), scored_(scored) {}
  torch::Tensor operator()(const torch::Tensor& y, const Batch& b) override {
    const char* name = scored_ == Scored::reflection     ? "residual_reflection"
                       : scored_ == Scored::transmission ? "residual_transmission"
                                                         : "residual_layers";
    const auto alpha = field(b, "alpha", name).view({-1, 1, 1, 1});
    const auto i = linear(unit(field(b, "input", name), r_));
    torch::Tensor t, r;
    if (scored_ == Scored::layers) {
      if (y.dim() != 4 || y.size(1) != 6)
        throw Error("loss 'residual_layers' scores cat[T, R] (6 channels), e.g. the ibcln model's output 'layers'");
      t = y.narrow(1, 0, 3);
      r = y.narrow(1, 3, 3);
    } else {
      const bool on_r = scored_ == Scored::reflection;
      t = on_r ? field(b, "background", name) : y;
      r = on_r ? y : field(b, "noise", name);
    }
    return (i - (alpha * linear(unit(t, r_)) + linear(unit(r, r_)))).pow(2).mean();  // Eq. 6
  }

 private:
  models::InputRange r_;
  Scored scored_;
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
                 return std::make_shared<Residual>(ctx.range, Residual::Scored::reflection);
               });
  losses().add("residual_transmission", "Location-aware SIRR L_res on T_i: MSE(g(I), alpha g(T_i) + g(R)), g = x^2.2",
               [](const Config&, const LossContext& ctx) -> LossTermPtr {
                 return std::make_shared<Residual>(ctx.range, Residual::Scored::transmission);
               });
  losses().add("residual_layers",
               "IBCLN loss_res on cat[T_i, R_i]: MSE(g(I), alpha g(T_i) + g(R_i)), g = x^2.2, both layers the "
               "model's",
               [](const Config&, const LossContext& ctx) -> LossTermPtr {
                 return std::make_shared<Residual>(ctx.range, Residual::Scored::layers);
               });
}

}  // namespace dmgn::losses
