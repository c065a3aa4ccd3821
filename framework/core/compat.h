#pragma once
// The one place that knows about LibTorch version and build differences: Debian's 1.13 CPU
// build (CI) and the CUDA LibTorch 2.x bundled with Python's torch (the GPU machine), plus
// reading files written by Python's torch.save. Nothing else in the project tests
// TORCH_VERSION_* or the CUDA / NCCL build flags; they ask here.
#include <torch/torch.h>

// Which c10d process groups this build can create (torch's own USE_C10D_* flags, and for
// Gloo also its headers, which LibTorch builds do not all ship). train/distributed.cpp
// includes and creates process groups only under these.
#if defined(USE_C10D_GLOO) && defined(DMGN_HAVE_GLOO_HEADERS)
#define DMGN_HAS_GLOO 1
#endif
#if defined(USE_C10D_NCCL)
#define DMGN_HAS_NCCL 1
#endif

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace dmgn::compat {

// A flat name -> tensor map from a file written by Python `torch.save(obj)` (zip format):
// obj may be a state dict (OrderedDict / dict of tensors), a dict nesting such dicts
// (keys joined with '.'), or a single tensor (key ""). Throws IoError / DataError naming
// the file.
std::map<std::string, torch::Tensor> load_state_dict(const std::filesystem::path& file);

// "1.13.1", "2.11.0", ...
std::string torch_version();
bool cuda_available();
// Whether this LibTorch was built with the NCCL process group (USE_C10D_NCCL) and whether
// the project was compiled against CUDA headers (DMGN_WITH_CUDA: device names, TF32 state).
bool has_nccl();
bool has_gloo();
bool has_cuda_headers();

// What a benchmark row names as the device: the GPU's name ("NVIDIA H100 80GB HBM3") for
// a CUDA device, the CPU's model name from /proc/cpuinfo otherwise ("cpu" when unknown).
std::string device_name(const torch::Device& device);

// Mixed precision for one device type while the guard lives: ops that autocast lists run in
// `dtype` (bf16), the rest in fp32; the previous state is restored on destruction (also the
// cast cache is cleared, as Python's torch.autocast does on exit). `enabled` = false makes a
// guard that changes nothing. LibTorch 1.13 and 2.x spell these calls differently.
class AutocastGuard {
 public:
  AutocastGuard(torch::DeviceType device_type, torch::ScalarType dtype, bool enabled = true);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  torch::DeviceType type_;
  bool active_ = false, prev_enabled_ = false;
  torch::ScalarType prev_dtype_ = torch::kFloat;
};
bool autocast_enabled(torch::DeviceType device_type);

// cuDNN's per-shape algorithm search (torch.backends.cudnn.benchmark); no effect on CPU.
void set_cudnn_benchmark(bool on);
bool cudnn_benchmark();
// Whether cuDNN convolutions may use TF32 for fp32 tensors (torch.backends.cudnn.allow_tf32;
// on by default in PyTorch and LibTorch).
bool cudnn_allows_tf32();
void set_cudnn_allow_tf32(bool on);

// Waits for a CUDA device's queued work; no-op for the CPU.
void synchronize(const torch::Device& device);

// An optimizer's per-parameter state (LibTorch 1.13 keys it by the TensorImpl's address as a
// string, 2.x by the address itself): null when the parameter has none yet.
torch::optim::OptimizerParamState* optimizer_state(torch::optim::Optimizer& opt, const torch::Tensor& param);
void set_optimizer_state(torch::optim::Optimizer& opt, const torch::Tensor& param,
                         std::unique_ptr<torch::optim::OptimizerParamState> state);

// Adam's fused multi-tensor CUDA kernel (LibTorch >= 2.1, Python's Adam(fused=True)): one
// launch updates every parameter. The learning rate is a 0-d device tensor, `state_steps` are
// float32 device tensors already incremented for this step, and a true `found_inf` (0-d, on
// the device) leaves every tensor unchanged (the caller does not increment then). Returns
// false, doing nothing, where the kernel does not exist (1.13, the CPU): the caller then runs
// the same arithmetic op by op.
bool fused_adam_step(const std::vector<torch::Tensor>& params, const std::vector<torch::Tensor>& grads,
                     const std::vector<torch::Tensor>& exp_avgs, const std::vector<torch::Tensor>& exp_avg_sqs,
                     const std::vector<torch::Tensor>& state_steps, const torch::Tensor& lr, double beta1,
                     double beta2, double eps, const torch::Tensor& found_inf);

// While it lives, an operation that makes the host wait for a CUDA device (.item(), a copy to
// the host, a pageable host-to-device copy) throws instead (torch.cuda.set_sync_debug_mode
// ("error")): how a test shows that a training step waits for nothing. available() is false,
// and the guard does nothing, in a build without CUDA.
class HostSyncCheck {
 public:
  HostSyncCheck();
  ~HostSyncCheck();
  HostSyncCheck(const HostSyncCheck&) = delete;
  HostSyncCheck& operator=(const HostSyncCheck&) = delete;
  static bool available();

 private:
  int previous_ = 0;
};

// A CUDA graph of fixed-shape work (Python's torch.cuda.graph): capture() runs `work` `warmup`
// times on a side stream (cuDNN's algorithm search and the allocator settle there), then once
// more while capturing; replay() reruns the captured kernels, writing into the same tensors
// (inputs are read from, and outputs left in, the tensors the work used at capture). Only a
// CUDA build (DMGN_WITH_CUDA) has them: capture() throws Error elsewhere, and when the work
// synchronises with the host (a .item(), a pageable host-to-device copy) or is not capturable.
class CudaGraph {
 public:
  CudaGraph();
  ~CudaGraph();
  CudaGraph(const CudaGraph&) = delete;
  CudaGraph& operator=(const CudaGraph&) = delete;
  static bool available();
  void capture(const torch::Device& device, const std::function<void()>& work, int warmup = 3);
  void replay();
  bool captured() const { return captured_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  bool captured_ = false;
};

}  // namespace dmgn::compat
