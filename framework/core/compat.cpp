#include "core/compat.h"

#include <ATen/autocast_mode.h>
#include <fmt/format.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include <fstream>

#include "core/error.h"

#ifdef DMGN_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <ATen/cuda/CUDAEvent.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace dmgn::compat {

// load_state_dict() lives in torch_pickle.cpp.

std::string torch_version() {
  return fmt::format("{}.{}.{}", TORCH_VERSION_MAJOR, TORCH_VERSION_MINOR, TORCH_VERSION_PATCH);
}

bool cuda_available() { return torch::cuda::is_available(); }

bool has_nccl() {
#ifdef DMGN_HAS_NCCL
  return true;
#else
  return false;
#endif
}

bool has_gloo() {
#ifdef DMGN_HAS_GLOO
  return true;
#else
  return false;
#endif
}

bool has_cuda_headers() {
#ifdef DMGN_WITH_CUDA
  return true;
#else
  return false;
#endif
}

std::string device_name(const torch::Device& device) {
  if (device.is_cuda()) {
#ifdef DMGN_WITH_CUDA
    const int index = device.has_index() ? device.index() : 0;
    return at::cuda::getDeviceProperties(index)->name;
#else
    return "cuda";
#endif
  }
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos && colon + 2 <= line.size()) return line.substr(colon + 2);
    }
  return "cpu";
}

// LibTorch 1.13 keys optimizer state by c10::guts::to_string(TensorImpl*), 2.x by the pointer.
namespace {
#if TORCH_VERSION_MAJOR >= 2
void* state_key(const torch::Tensor& p) { return p.unsafeGetTensorImpl(); }
#else
std::string state_key(const torch::Tensor& p) { return c10::guts::to_string(p.unsafeGetTensorImpl()); }
#endif
}  // namespace

torch::optim::OptimizerParamState* optimizer_state(torch::optim::Optimizer& opt, const torch::Tensor& param) {
  auto& states = opt.state();
  const auto it = states.find(state_key(param));
  return it == states.end() ? nullptr : it->second.get();
}

void set_optimizer_state(torch::optim::Optimizer& opt, const torch::Tensor& param,
                         std::unique_ptr<torch::optim::OptimizerParamState> state) {
  opt.state()[state_key(param)] = std::move(state);
}

bool fused_adam_step(const std::vector<torch::Tensor>& params, const std::vector<torch::Tensor>& grads,
                     const std::vector<torch::Tensor>& exp_avgs, const std::vector<torch::Tensor>& exp_avg_sqs,
                     const std::vector<torch::Tensor>& state_steps, const torch::Tensor& lr, double beta1,
                     double beta2, double eps, const torch::Tensor& found_inf) {
#if defined(DMGN_WITH_CUDA) && (TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1))
  if (params.empty() || !params.front().is_cuda()) return false;
  at::_fused_adam_(params, grads, exp_avgs, exp_avg_sqs, /*max_exp_avg_sqs=*/{}, state_steps, lr.to(torch::kFloat32),
                   beta1, beta2, /*weight_decay=*/0.0, eps, /*amsgrad=*/false, /*maximize=*/false, /*grad_scale=*/{},
                   found_inf.to(torch::kFloat32));
  return true;
#else
  (void)params, (void)grads, (void)exp_avgs, (void)exp_avg_sqs, (void)state_steps, (void)lr, (void)beta1;
  (void)beta2, (void)eps, (void)found_inf;
  return false;
#endif
}

#ifdef DMGN_WITH_CUDA
HostSyncCheck::HostSyncCheck() : previous_(static_cast<int>(c10::cuda::warning_state().get_sync_debug_mode())) {
  c10::cuda::warning_state().set_sync_debug_mode(c10::cuda::SyncDebugMode::L_ERROR);
}
HostSyncCheck::~HostSyncCheck() {
  c10::cuda::warning_state().set_sync_debug_mode(static_cast<c10::cuda::SyncDebugMode>(previous_));
}
bool HostSyncCheck::available() { return true; }
#else
HostSyncCheck::HostSyncCheck() = default;
HostSyncCheck::~HostSyncCheck() = default;
bool HostSyncCheck::available() { return false; }
#endif

// LibTorch 2.4 made autocast state per device type (set_autocast_enabled(type, on)); 1.13 has
// one pair of calls per device (set_enabled for CUDA, set_cpu_enabled for the CPU).
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define DMGN_AUTOCAST_PER_DEVICE 1
#endif

namespace {

bool get_enabled(torch::DeviceType t) {
#ifdef DMGN_AUTOCAST_PER_DEVICE
  return at::autocast::is_autocast_enabled(t);
#else
  return t == torch::kCUDA ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
#endif
}

void set_enabled(torch::DeviceType t, bool on) {
#ifdef DMGN_AUTOCAST_PER_DEVICE
  at::autocast::set_autocast_enabled(t, on);
#else
  if (t == torch::kCUDA)
    at::autocast::set_enabled(on);
  else
    at::autocast::set_cpu_enabled(on);
#endif
}

torch::ScalarType get_dtype(torch::DeviceType t) {
#ifdef DMGN_AUTOCAST_PER_DEVICE
  return at::autocast::get_autocast_dtype(t);
#else
  return t == torch::kCUDA ? at::autocast::get_autocast_gpu_dtype() : at::autocast::get_autocast_cpu_dtype();
#endif
}

void set_dtype(torch::DeviceType t, torch::ScalarType d) {
#ifdef DMGN_AUTOCAST_PER_DEVICE
  at::autocast::set_autocast_dtype(t, d);
#else
  if (t == torch::kCUDA)
    at::autocast::set_autocast_gpu_dtype(d);
  else
    at::autocast::set_autocast_cpu_dtype(d);
#endif
}

}  // namespace

bool autocast_enabled(torch::DeviceType device_type) { return get_enabled(device_type); }

AutocastGuard::AutocastGuard(torch::DeviceType device_type, torch::ScalarType dtype, bool enabled)
    : type_(device_type), active_(enabled) {
  if (!active_) return;
  if (type_ != torch::kCUDA && type_ != torch::kCPU)
    throw std::invalid_argument(fmt::format("autocast: unsupported device type {}", c10::DeviceTypeName(type_)));
  prev_enabled_ = get_enabled(type_);
  prev_dtype_ = get_dtype(type_);
  set_dtype(type_, dtype);
  set_enabled(type_, true);
  at::autocast::increment_nesting();
}

AutocastGuard::~AutocastGuard() {
  if (!active_) return;
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  set_enabled(type_, prev_enabled_);
  set_dtype(type_, prev_dtype_);
}

void set_cudnn_benchmark(bool on) { at::globalContext().setBenchmarkCuDNN(on); }
bool cudnn_benchmark() { return at::globalContext().benchmarkCuDNN(); }
bool cudnn_allows_tf32() { return at::globalContext().allowTF32CuDNN(); }
void set_cudnn_allow_tf32(bool on) { at::globalContext().setAllowTF32CuDNN(on); }

void synchronize(const torch::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize(device.has_index() ? device.index() : -1);
}

#ifdef DMGN_WITH_CUDA
struct CudaGraph::Impl {
  at::cuda::CUDAGraph graph;
};
#else
struct CudaGraph::Impl {};
#endif

CudaGraph::CudaGraph() : impl_(std::make_unique<Impl>()) {}
CudaGraph::~CudaGraph() = default;

bool CudaGraph::available() { return has_cuda_headers() && cuda_available(); }

void CudaGraph::capture(const torch::Device& device, const std::function<void()>& work, int warmup) {
  if (captured_) throw Error("CUDA graph: already captured");
  if (!device.is_cuda()) throw Error("CUDA graphs need a CUDA device (runtime.device = \"cuda\")");
#ifdef DMGN_WITH_CUDA
  const c10::DeviceIndex index = device.has_index() ? device.index() : 0;
  c10::cuda::CUDAGuard device_guard(index);
  const auto current = c10::cuda::getCurrentCUDAStream(index);
  const auto side = c10::cuda::getStreamFromPool(/*isHighPriority=*/false, index);
  at::cuda::CUDAEvent ready;
  ready.record(current);
  ready.block(side);  // the side stream sees everything queued before (the inputs)
  {
    c10::cuda::CUDAStreamGuard stream_guard(side);
    for (int i = 0; i < warmup; ++i) work();
    side.synchronize();
    impl_->graph.capture_begin();
    try {
      work();
    } catch (const std::exception& e) {
      try {
        impl_->graph.capture_end();
      } catch (...) {
      }
      throw Error(fmt::format("CUDA graph capture failed: {}", error_summary(e)));
    }
    impl_->graph.capture_end();
  }
  at::cuda::CUDAEvent done;
  done.record(side);
  done.block(current);
  captured_ = true;
#else
  (void)work;
  (void)warmup;
  throw Error("CUDA graphs need a CUDA build of LibTorch (this one was compiled without CUDA headers)");
#endif
}

void CudaGraph::replay() {
  if (!captured_) throw Error("CUDA graph: replay before capture");
#ifdef DMGN_WITH_CUDA
  impl_->graph.replay();
#endif
}

}  // namespace dmgn::compat
