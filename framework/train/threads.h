#pragma once
// Intra-op threads on a shared machine (runtime.threads). A number fixes the count. 0, the
// default, means "the cores that are free": the run starts with every core and, while it trains
// or evaluates, re-measures every few seconds how many cores OTHER processes keep busy (Linux
// /proc/stat minus this process's own /proc/self/stat), and sets
//   threads = round(cores - cores busy elsewhere), at least 1.
// Why (measured, docs/training.md "Threads on a shared machine"): an OpenMP parallel region
// ends at a barrier, so an intra-op thread that the kernel has preempted for another process
// stalls every other thread of the region until it runs again. With as many threads as cores
// and one busy process beside them, every operator waits for a time slice: a small model ran
// 25x slower, where one thread on the free core runs at full speed.
#include <chrono>
#include <cstdint>

#include "core/config.h"

namespace dmgn::train {

// CPU time since boot in seconds: every core's busy time (not idle, not iowait) and this
// process's own (all threads); {-1, -1} where /proc cannot be read.
struct CpuTimes {
  double busy = -1, own = -1;
};
CpuTimes read_cpu_times();

// The thread count for `cores` cores when others keep `busy_elsewhere` cores busy.
int free_core_threads(int cores, double busy_elsewhere);

class ThreadGovernor {
 public:
  // Applies runtime.threads (train::apply_threads); adaptive when it is 0.
  explicit ThreadGovernor(const Config& cfg, double interval_s = 5.0);
  // Cheap; every interval, measures and changes the thread count when the free cores changed.
  void tick();
  bool adaptive() const { return adaptive_; }

 private:
  bool adaptive_ = false;
  int cores_ = 1, threads_ = 1;
  double interval_s_;
  std::chrono::steady_clock::time_point last_;
  CpuTimes times_;
};

}  // namespace dmgn::train
