#include "train/execution.h"

#include <fmt/format.h>

#include "core/error.h"

namespace dmgn::train {

Execution Execution::from_config(const Config& cfg, torch::Device device) {
  Execution e;
  e.device = device;
  const std::string p = cfg.get_string("train.precision");
  if (p != "fp32" && p != "bf16" && p != "fp64")
    throw ConfigError(fmt::format("config key 'train.precision': '{}' is not one of fp32, bf16, fp64", p));
  e.bf16 = p == "bf16";
  e.fp64 = p == "fp64";
  e.channels_last = cfg.get_bool("runtime.channels_last");
  e.cudnn_benchmark = cfg.get_bool("runtime.cudnn_benchmark");
  e.tf32 = cfg.get_bool("runtime.tf32");
  return e;
}

void Execution::apply_cudnn() const {
  if (!device.is_cuda()) return;
  compat::set_cudnn_benchmark(cudnn_benchmark);
  compat::set_cudnn_allow_tf32(tf32);
}

torch::Tensor Execution::place(const torch::Tensor& x) const {
  // To a GPU through pinned memory, without waiting: a copy from pageable memory would make
  // the host wait for the device in every step.
  const auto from = device.is_cuda() && x.device().is_cpu() ? x.pin_memory() : x;
  const bool async = device.is_cuda() && from.is_pinned();
  auto y = fp64 && x.is_floating_point() ? from.to(device, torch::kDouble, async) : from.to(device, async);
  return y.dim() == 4 ? y.contiguous(memory_format()) : y;
}

void Execution::lay_out(torch::nn::Module& module) const {
  torch::NoGradGuard no_grad;
  const auto fmt = memory_format();
  const auto place = [&](torch::Tensor& t) {
    if (fp64 && t.is_floating_point() && t.scalar_type() != torch::kDouble) t.set_data(t.data().to(torch::kDouble));
    if (t.dim() == 4 && !t.is_contiguous(fmt)) t.set_data(t.data().contiguous(fmt));
  };
  for (auto& p : module.parameters()) place(p);
  for (auto& b : module.buffers()) place(b);
}

}  // namespace dmgn::train
