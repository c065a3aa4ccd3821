#pragma once
// Floating-point width helpers shared by the models, losses and recipes: computations that must
// not run in bf16 (masks near 0 and 1, loss sums) are widened to fp32, and an fp64 run
// (train.precision = "fp64", train/execution.h) keeps its fp64 throughout.
#include <torch/torch.h>

namespace dmgn {

// `t` in fp32, or in fp64 when it already is (bf16/fp16 widened, fp64 kept).
inline torch::Tensor at_least_fp32(const torch::Tensor& t) {
  return t.scalar_type() == torch::kDouble ? t : t.to(torch::kFloat);
}

// The dtype of the module's first floating-point parameter or buffer (fp32 when it has none).
inline torch::Dtype parameter_dtype(const torch::nn::Module& m) {
  for (const auto& p : m.parameters())
    if (p.is_floating_point()) return p.scalar_type();
  for (const auto& b : m.buffers())
    if (b.is_floating_point()) return b.scalar_type();
  return torch::kFloat;
}

}  // namespace dmgn
