#pragma once
// Execution: how the tensors of a training or evaluation run are laid out and computed, read
// from the config once and applied the same way by the trainer, evaluation, `dmgn bench
// model` and `dmgn visualize`:
//   train.precision        "fp32", "bf16" or "fp64": bf16 = autocast (mixed precision) around
//                          the forward pass and the losses; parameters, gradients and Adam
//                          stay fp32, no loss scaling (bf16 has fp32's exponent range). fp64 =
//                          parameters, batches and every tensor a model creates in float64
//                          (torch's default dtype while the recipe lives): slow (no oneDNN),
//                          for numerics that must agree across CPUs (the golden tests). Part
//                          of the config hash: it changes the numbers.
//   runtime.channels_last  4-D parameters and inputs in NHWC memory order (the order cuDNN's
//                          and oneDNN's fast convolution kernels want).
//   runtime.cudnn_benchmark  cuDNN's per-shape algorithm search for training (fixed crops);
//                          evaluation turns it off, since benchmark images differ in size.
//   runtime.tf32           cuDNN may use TF32 for fp32 convolutions (CUDA only).
// Evaluation runs in fp32 under c10::InferenceMode whatever train.precision says (fp64 for an
// fp64 model), so the stored metrics do not depend on bf16's rounding.
#include <torch/torch.h>

#include <string>

#include "core/compat.h"
#include "core/config.h"

namespace dmgn::train {

struct Execution {
  torch::Device device = torch::kCPU;
  bool bf16 = false;
  bool fp64 = false;
  bool channels_last = false;
  bool cudnn_benchmark = true;
  bool tf32 = true;

  // ConfigError naming the key for a value outside the lists above.
  static Execution from_config(const Config& cfg, torch::Device device);
  std::string precision() const { return bf16 ? "bf16" : fp64 ? "fp64" : "fp32"; }
  // The dtype of parameters and batches: fp64 for "fp64", else fp32.
  torch::Dtype dtype() const { return fp64 ? torch::kDouble : torch::kFloat; }
  torch::MemoryFormat memory_format() const {
    return channels_last ? torch::MemoryFormat::ChannelsLast : torch::MemoryFormat::Contiguous;
  }
  // `x` on the device, in the memory format (4-D tensors only; others just moved); floating
  // tensors in fp64 for an fp64 run.
  torch::Tensor place(const torch::Tensor& x) const;
  // Every 4-D parameter and buffer of `module` in the memory format (in place, same values);
  // every floating one in fp64 for an fp64 run.
  void lay_out(torch::nn::Module& module) const;
  // The process-wide cuDNN switches for training on this device (benchmark, TF32); no-op on CPU.
  void apply_cudnn() const;
  // Autocast to bf16 on this device while the guard lives (a no-op guard for fp32).
  compat::AutocastGuard autocast() const { return compat::AutocastGuard(device.type(), torch::kBFloat16, bf16); }
};

}  // namespace dmgn::train
