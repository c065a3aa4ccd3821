#include "train/device_adam.h"

#include <fmt/format.h>

#include <cmath>
#include <memory>

#include "core/compat.h"
#include "core/error.h"

namespace dmgn::train {

DeviceAdam::DeviceAdam(torch::optim::Adam& adam) : adam_(adam) {
  if (adam_.param_groups().empty()) throw Error("DeviceAdam: the optimizer has no parameter group");
  const auto& o = static_cast<const torch::optim::AdamOptions&>(adam_.param_groups().front().options());
  if (adam_.param_groups().size() != 1 || o.weight_decay() != 0 || o.amsgrad())
    throw Error("the device-side Adam (runtime.host_sync = \"log\") supports one parameter group without weight "
                "decay or AMSGrad, as the recipes build it");
  beta1_ = std::get<0>(o.betas());
  beta2_ = std::get<1>(o.betas());
  eps_ = o.eps();
  for (const auto& p : adam_.param_groups().front().params()) slots_.push_back({p, torch::Tensor()});
  from_host();
}

torch::optim::AdamParamState& DeviceAdam::state_of(Slot& s) {
  auto* st = compat::optimizer_state(adam_, s.param);
  if (!st) {
    auto fresh = std::make_unique<torch::optim::AdamParamState>();
    fresh->step(0);
    fresh->exp_avg(torch::zeros_like(s.param, torch::MemoryFormat::Preserve));
    fresh->exp_avg_sq(torch::zeros_like(s.param, torch::MemoryFormat::Preserve));
    st = fresh.get();
    compat::set_optimizer_state(adam_, s.param, std::move(fresh));
  }
  auto* adam_state = dynamic_cast<torch::optim::AdamParamState*>(st);
  if (!adam_state) throw Error("DeviceAdam: a parameter's optimizer state is not Adam's");
  if (!s.steps.defined())
    s.steps = torch::full({}, static_cast<double>(adam_state->step()),
                          torch::TensorOptions().dtype(torch::kFloat32).device(s.param.device()));
  return *adam_state;
}

void DeviceAdam::step(const torch::Tensor& lr, const torch::Tensor& skip) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> params, grads, exp_avgs, exp_avg_sqs, steps;
  for (auto& s : slots_) {
    if (!s.param.grad().defined()) continue;
    auto& st = state_of(s);
    params.push_back(s.param);
    grads.push_back(s.param.grad());
    exp_avgs.push_back(st.exp_avg());
    exp_avg_sqs.push_back(st.exp_avg_sq());
    steps.push_back(s.steps);
  }
  if (params.empty()) return;
  const auto ok = skip.logical_not().to(torch::kFloat32);
  for (auto& t : steps) t.add_(ok);
  fused_ = compat::fused_adam_step(params, grads, exp_avgs, exp_avg_sqs, steps, lr, beta1_, beta2_, eps_, skip);
  if (fused_) return;
  for (size_t i = 0; i < params.size(); ++i) {
    auto& p = params[i];
    const auto& g = grads[i];
    // A skipped first step has t = 0: the bias corrections are taken at t >= 1 so that
    // nothing divides by zero in the update that is then dropped.
    const auto t = steps[i].to(torch::kFloat64).clamp_min(1);
    const auto bc1 = 1 - torch::pow(beta1_, t);
    const auto bc2 = 1 - torch::pow(beta2_, t);
    auto m = exp_avgs[i].mul(beta1_).add_(g, 1 - beta1_);
    auto v = exp_avg_sqs[i].mul(beta2_).addcmul_(g, g, 1 - beta2_);
    const auto denom = (v.sqrt() / bc2.sqrt()).add_(eps_);
    auto updated = p - m.div(denom).mul_(lr / bc1);
    p.copy_(torch::where(skip, p, updated));
    exp_avgs[i].copy_(torch::where(skip, exp_avgs[i], m));
    exp_avg_sqs[i].copy_(torch::where(skip, exp_avg_sqs[i], v));
  }
}

void DeviceAdam::to_host() {
  std::vector<torch::Tensor> counts;
  std::vector<Slot*> with;
  for (auto& s : slots_)
    if (s.steps.defined()) {
      counts.push_back(s.steps.reshape({1}));
      with.push_back(&s);
    }
  if (counts.empty()) return;
  const auto host = torch::cat(counts).to(torch::kCPU, torch::kFloat64);
  const auto* c = host.data_ptr<double>();
  for (size_t i = 0; i < with.size(); ++i) state_of(*with[i]).step(static_cast<int64_t>(std::llround(c[i])));
}

void DeviceAdam::from_host() {
  for (auto& s : slots_) {
    s.steps = torch::Tensor();
    if (compat::optimizer_state(adam_, s.param)) state_of(s);
  }
}

}  // namespace dmgn::train
