#pragma once
// Where the time of one pass goes (`dmgn bench model --profile SIZE`), through torch's Kineto
// profiler: on CUDA the device time of every kernel, memcpy and memset it ran; on the CPU the
// self time of every operator (its time less that of the operators it called), so that nothing
// is counted twice. Names are grouped into kinds the way tools/peer_bench.py groups the
// official code's kernels (kernel_kind), so the two profiles read side by side.
#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace dmgn::train {

struct TimeShare {
  std::string name;
  double ms = 0;
  int64_t count = 0;
};

struct DeviceProfile {
  std::string unit;              // "CUDA kernels" or "CPU operators (self time)"
  double total_ms = 0;
  int64_t count = 0;
  std::vector<TimeShare> kinds;  // by kernel_kind, the heaviest first
  std::vector<TimeShare> top;    // the heaviest names
};

// convolution, resize, pad, concat, layout/copy, elementwise, reduction or other, by keywords
// of the kernel or operator name (case-insensitive).
std::string kernel_kind(const std::string& name);

// A closed interval of one event on one thread, for self_times.
struct TimedEvent {
  std::string name;
  uint64_t thread = 0;
  double start_us = 0, duration_us = 0;
};
// Each event's self time: its duration less that of the events nested directly inside it on
// the same thread.
std::vector<double> self_times(const std::vector<TimedEvent>& events);

// Profiles one call of `f` on `device` (synchronised before the profile ends); `top` names kept.
DeviceProfile profile_device_time(const torch::Device& device, const std::function<void()>& f, int top = 10);

}  // namespace dmgn::train
