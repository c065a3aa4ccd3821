#include "train/profile.h"

#include <torch/csrc/autograd/profiler_kineto.h>
#include <torch/version.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <numeric>
#include <set>

#include "core/compat.h"

namespace dmgn::train {

std::string kernel_kind(const std::string& name) {
  std::string low = name;
  std::transform(low.begin(), low.end(), low.begin(), [](unsigned char c) { return std::tolower(c); });
  static const std::vector<std::pair<std::string, std::vector<std::string>>> kinds{
      {"convolution", {"conv", "gemm", "xmma", "sm90", "sm80", "cutlass", "implicit", "winograd", "fft", "dgrad",
                       "wgrad", "nhwc", "nchw"}},
      {"resize", {"upsample", "interp"}},
      {"pad", {"reflection", "replication", "pad"}},
      {"concat", {"cat"}},
      {"layout/copy", {"copy", "transpose", "contiguous", "pixel_shuffle", "index"}},
      {"elementwise", {"elementwise", "vectorized", "unrolled"}},
      {"reduction", {"reduce"}}};
  for (const auto& [kind, keys] : kinds)
    for (const auto& k : keys)
      if (low.find(k) != std::string::npos) return kind;
  return "other";
}

std::vector<double> self_times(const std::vector<TimedEvent>& events) {
  std::vector<double> self(events.size());
  std::vector<size_t> order(events.size());
  std::iota(order.begin(), order.end(), 0);
  // Per thread by start; at equal starts the longer (outer) event first.
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const auto &x = events[a], &y = events[b];
    if (x.thread != y.thread) return x.thread < y.thread;
    if (x.start_us != y.start_us) return x.start_us < y.start_us;
    return x.duration_us > y.duration_us;
  });
  std::vector<size_t> stack;
  uint64_t thread = 0;
  for (size_t i : order) {
    const auto& e = events[i];
    if (stack.empty() || e.thread != thread) stack.clear();
    thread = e.thread;
    while (!stack.empty() && events[stack.back()].start_us + events[stack.back()].duration_us <= e.start_us)
      stack.pop_back();
    self[i] = e.duration_us;
    if (!stack.empty()) self[stack.back()] -= e.duration_us;
    stack.push_back(i);
  }
  for (auto& s : self) s = std::max(0.0, s);
  return self;
}

namespace {

namespace prof = torch::autograd::profiler;
namespace impl = torch::profiler::impl;

TimedEvent timed(const prof::KinetoEvent& e) {
#if TORCH_VERSION_MAJOR >= 2
  const double start = static_cast<double>(e.startNs()) / 1e3, duration = static_cast<double>(e.durationNs()) / 1e3;
#else
  const double start = static_cast<double>(e.startUs()), duration = static_cast<double>(e.durationUs());
#endif
  return {e.name(), e.startThreadId(), start, duration};
}

std::vector<TimeShare> ranked(const std::map<std::string, TimeShare>& by) {
  std::vector<TimeShare> v;
  for (const auto& [k, t] : by) v.push_back(t);
  std::sort(v.begin(), v.end(), [](const TimeShare& a, const TimeShare& b) { return a.ms > b.ms; });
  return v;
}

}  // namespace

DeviceProfile profile_device_time(const torch::Device& device, const std::function<void()>& f, int top) {
  const bool cuda = device.is_cuda();
  std::set<impl::ActivityType> activities{impl::ActivityType::CPU};
  if (cuda) activities.insert(impl::ActivityType::CUDA);
  const impl::ProfilerConfig config(impl::ProfilerState::KINETO);
  prof::prepareProfiler(config, activities);
  prof::enableProfiler(config, activities);
  try {
    f();
    compat::synchronize(device);
  } catch (...) {
    prof::disableProfiler();
    throw;
  }
  const auto result = prof::disableProfiler();
  std::vector<TimedEvent> events;
  for (const auto& e : result->events()) {
    if ((e.deviceType() == c10::DeviceType::CUDA) != cuda) continue;
    events.push_back(timed(e));
  }
  std::vector<double> ms(events.size());
  if (cuda) {
    for (size_t i = 0; i < events.size(); ++i) ms[i] = events[i].duration_us / 1e3;  // kernels do not nest
  } else {
    const auto self = self_times(events);
    for (size_t i = 0; i < events.size(); ++i) ms[i] = self[i] / 1e3;
  }
  DeviceProfile p;
  p.unit = cuda ? "CUDA kernels" : "CPU operators (self time)";
  std::map<std::string, TimeShare> by_kind, by_name;
  for (size_t i = 0; i < events.size(); ++i) {
    const auto& name = events[i].name;
    auto& k = by_kind[kernel_kind(name)];
    k.name = kernel_kind(name);
    k.ms += ms[i];
    ++k.count;
    auto& n = by_name[name];
    n.name = name;
    n.ms += ms[i];
    ++n.count;
    p.total_ms += ms[i];
    ++p.count;
  }
  p.kinds = ranked(by_kind);
  p.top = ranked(by_name);
  if (static_cast<int>(p.top.size()) > top) p.top.resize(static_cast<size_t>(top));
  return p;
}

}  // namespace dmgn::train
