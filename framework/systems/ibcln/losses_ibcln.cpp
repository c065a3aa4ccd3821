// IBCLN's residual reconstruction (IBCLN_model.py backward_G, loss_res): on a synthetic batch,
//   MSE(g(I), alpha g(T_k) + g(R_k)),  g(x) = x^2.2,
// per iteration k, both layers the model's own estimates. Registered as the loss
// "ibcln_residual" on the model's list output "layers" (cat[T_k, R_k]); alpha is the batch's
// (field "alpha", recorded by the reflection_linear synthesis): a batch without it (real pairs)
// drops the term, as the reference computes it on synthetic batches only. Its other composition
// term, MSE(g(R_k) + alpha g(T), g(I)) with the ground-truth T, is the shared
// "residual_reflection" (losses/composition.h).
#include <fmt/format.h>

#include "core/error.h"
#include "losses/composition.h"
#include "losses/losses.h"

namespace dmgn::models::ibcln {
namespace {

class ResidualBoth : public losses::BatchLoss {
 public:
  explicit ResidualBoth(InputRange r) : r_(r) {}
  torch::Tensor operator()(const torch::Tensor& layers, const std::map<std::string, torch::Tensor>& b) override {
    const auto field = [&](const char* name) {
      const auto it = b.find(name);
      if (it == b.end() || !it->second.defined())
        throw Error(fmt::format("loss 'ibcln_residual' needs the batch field '{}' (a synthesis that records it)", name));
      return it->second;
    };
    if (layers.dim() != 4 || layers.size(1) != 6)
      throw Error("loss 'ibcln_residual' scores cat[T, R] (6 channels): the ibcln model's output 'layers'");
    const auto unit = [&](const torch::Tensor& x) { return r_ == InputRange::minus_one_one ? (x + 1.0) * 0.5 : x; };
    const auto g = [](const torch::Tensor& x) { return x.clamp_min(0).pow(losses::kLinearGamma); };
    const auto alpha = field("alpha").view({-1, 1, 1, 1});
    const auto t = unit(layers.narrow(1, 0, 3)), r = unit(layers.narrow(1, 3, 3));
    return (g(unit(field("input"))) - (alpha * g(t) + g(r))).pow(2).mean();
  }

 private:
  InputRange r_;
};

}  // namespace

void register_ibcln_losses() {
  losses::losses().add("ibcln_residual",
                       "IBCLN loss_res on cat[T_k, R_k]: MSE(g(I), alpha g(T_k) + g(R_k)), g = x^2.2 (synthetic "
                       "batches: needs the batch's alpha)",
                       [](const Config&, const losses::LossContext& ctx) -> losses::LossTermPtr {
                         return std::make_shared<ResidualBoth>(ctx.range);
                       });
}

}  // namespace dmgn::models::ibcln
