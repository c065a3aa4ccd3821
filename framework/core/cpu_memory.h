#pragma once
// Memory of this process, as evaluation needs it to refuse an image before it runs out:
//   available_memory()   bytes the process can still allocate: the kernel's MemAvailable,
//                        lowered by its cgroup's limit (v2 memory.max - memory.current, v1
//                        limit - usage) and by RLIMIT_AS / RLIMIT_DATA;
//   PeakCpuBytes         the peak of the bytes LibTorch's CPU allocator holds while it lives,
//                        above what it held when it started: every CPU tensor allocated (by
//                        any thread) is counted until it is freed. One at a time per process.
#include <cstdint>

namespace dmgn {

uint64_t available_memory();

class PeakCpuBytes {
 public:
  PeakCpuBytes();   // installs the counting allocator (LibTorch's own underneath)
  ~PeakCpuBytes();  // restores LibTorch's allocator
  PeakCpuBytes(const PeakCpuBytes&) = delete;
  PeakCpuBytes& operator=(const PeakCpuBytes&) = delete;
  // False when LibTorch's CPU allocator cannot be wrapped (not its default one): peak() is 0.
  bool counting() const { return counting_; }
  uint64_t peak() const;  // since construction or the last reset()
  void reset();

 private:
  bool counting_ = false;
  uint64_t start_ = 0;  // bytes held at construction or reset()
};

}  // namespace dmgn
