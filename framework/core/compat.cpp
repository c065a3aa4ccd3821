#include "core/compat.h"

#include <ATen/autocast_mode.h>
#include <fmt/format.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include <fstream>

#ifdef DMGN_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
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

}  // namespace dmgn::compat
