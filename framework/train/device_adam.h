#pragma once
// Adam whose step count, learning rate and skip decision live on the device: Python's
// Adam(capturable=True), for runtime.host_sync = "log" (train/recipe.h), where a step neither
// reads its loss values nor its non-finite flags on the host, and a CUDA graph of the step
// could hold the update too.
//
// The moments are torch::optim::Adam's own AdamParamState tensors, updated in place, so a
// checkpoint saves and loads them as it does for the usual optimizer. The step count is kept on
// the device as float32 per parameter (as torch counts per parameter: one without a gradient
// does not step) and goes back into AdamParamState::step with to_host() (before a checkpoint)
// and from it with from_host() (after a load). The arithmetic is torch::optim::Adam's with
// weight decay 0 and no AMSGrad (the only options Recipe::add_adam sets; others are refused):
//   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;  p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
// with a skip of 1 leaving p, m, v and t as they were (also when g holds NaN or Inf).
// On CUDA with LibTorch >= 2.1 one fused kernel updates every parameter
// (compat::fused_adam_step); elsewhere the same arithmetic runs op by op, the bias corrections
// in float64, and agrees with torch::optim::Adam to rounding (tests/test_device_adam.cpp).
#include <torch/torch.h>

#include <vector>

namespace dmgn::train {

class DeviceAdam {
 public:
  explicit DeviceAdam(torch::optim::Adam& adam);
  // One update of every parameter that has a gradient, at rate `lr` (0-d float64 tensor on the
  // parameters' device), unless `skip` (0-d bool on that device) is true.
  void step(const torch::Tensor& lr, const torch::Tensor& skip);
  // The device step counts into each AdamParamState::step (one transfer), so that a
  // checkpoint written now holds them.
  void to_host();
  // Each parameter's step count from its AdamParamState (after a checkpoint load).
  void from_host();
  // Whether the last step() ran the fused kernel.
  bool fused() const { return fused_; }

 private:
  struct Slot {
    torch::Tensor param;
    torch::Tensor steps;  // 0-d float32 on the device; undefined until the parameter has state
  };
  torch::optim::AdamParamState& state_of(Slot& s);
  torch::optim::Adam& adam_;
  std::vector<Slot> slots_;
  double beta1_, beta2_, eps_;
  bool fused_ = false;
};

}  // namespace dmgn::train
