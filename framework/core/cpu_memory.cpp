#include "core/cpu_memory.h"

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <sys/resource.h>
#include <torch/version.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <limits>
#include <mutex>
#include <string>
#include <unordered_map>

namespace dmgn {
namespace {

uint64_t read_number(const char* file) {
  std::ifstream in(file);
  std::string s;
  if (!(in >> s) || s == "max") return std::numeric_limits<uint64_t>::max();
  try {
    return std::stoull(s);
  } catch (const std::exception&) {
    return std::numeric_limits<uint64_t>::max();
  }
}

uint64_t mem_available() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  uint64_t kb = 0;
  std::string unit;
  while (in >> key >> kb >> unit)
    if (key == "MemAvailable:") return kb * 1024;
  return std::numeric_limits<uint64_t>::max();
}

// What is left under a limit, given what is used.
uint64_t left(uint64_t limit, uint64_t used) {
  if (limit == std::numeric_limits<uint64_t>::max()) return limit;
  return limit > used ? limit - used : 0;
}

// The counting allocator: LibTorch's default CPU allocator underneath; sizes by pointer so that
// its deleter (called by whichever thread frees the tensor) can subtract them.
struct Counter {
  std::mutex mutex;
  std::unordered_map<void*, size_t> sizes;
  std::atomic<uint64_t> current{0}, peak{0};
  c10::Allocator* base = nullptr;
  c10::DeleterFnPtr base_deleter = nullptr;
  bool installed = false;
};

Counter& counter() {
  static Counter* c = new Counter;  // never destroyed: tensors may outlive main's statics
  return *c;
}

void counting_delete(void* ptr) {
  auto& c = counter();
  {
    std::lock_guard<std::mutex> lock(c.mutex);
    const auto it = c.sizes.find(ptr);
    if (it != c.sizes.end()) {
      c.current -= it->second;
      c.sizes.erase(it);
    }
  }
  c.base_deleter(ptr);
}

class CountingAllocator final : public c10::Allocator {
 public:
  // LibTorch 2.x made allocate() non-const and added copy_data(); 1.13 has the const form.
#if TORCH_VERSION_MAJOR >= 2
  c10::DataPtr allocate(size_t n) override { return counted(n); }
  void copy_data(void* dest, const void* src, std::size_t count) const override { default_copy_data(dest, src, count); }
#else
  c10::DataPtr allocate(size_t n) const override { return counted(n); }
#endif
  c10::DeleterFnPtr raw_deleter() const override { return &counting_delete; }

 private:
  c10::DataPtr counted(size_t n) const {
    auto& c = counter();
    c10::DataPtr inner = c.base->allocate(n);
    void* p = inner.get();
    if (!p) return inner;
    inner.release_context();  // the base allocator's context is the pointer itself (checked)
    {
      std::lock_guard<std::mutex> lock(c.mutex);
      c.sizes[p] = n;
    }
    const uint64_t now = c.current += n;
    uint64_t peak = c.peak.load();
    while (now > peak && !c.peak.compare_exchange_weak(peak, now)) {
    }
    return {p, p, &counting_delete, c10::Device(c10::DeviceType::CPU)};
  }
};

CountingAllocator& counting_allocator() {
  static CountingAllocator* a = new CountingAllocator;
  return *a;
}

// LibTorch's default CPU allocator frees with a plain deleter whose context is the data
// pointer: the only kind the counting allocator can wrap.
bool wrappable(c10::Allocator* a) {
  if (!a || !a->raw_deleter()) return false;
  c10::DataPtr probe = a->allocate(64);
  return probe.get() == probe.get_context();
}

}  // namespace

uint64_t available_memory() {
  uint64_t avail = mem_available();
  avail = std::min(avail, left(read_number("/sys/fs/cgroup/memory.max"), read_number("/sys/fs/cgroup/memory.current")));
  avail = std::min(avail, left(read_number("/sys/fs/cgroup/memory/memory.limit_in_bytes"),
                               read_number("/sys/fs/cgroup/memory/memory.usage_in_bytes")));
  for (int res : {RLIMIT_AS, RLIMIT_DATA}) {
    rlimit rl{};
    if (::getrlimit(res, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
      // Subtract what the process already maps (VmSize), roughly what the limit counts.
      std::ifstream in("/proc/self/status");
      std::string key, unit;
      uint64_t vm_kb = 0;
      for (std::string line; std::getline(in, line);)
        if (line.rfind("VmSize:", 0) == 0) vm_kb = std::stoull(line.substr(7));
      avail = std::min<uint64_t>(avail, left(static_cast<uint64_t>(rl.rlim_cur), vm_kb * 1024));
    }
  }
  return avail;
}

PeakCpuBytes::PeakCpuBytes() {
  auto& c = counter();
  c10::Allocator* current = c10::GetCPUAllocator();
  if (c.installed || current == &counting_allocator() || !wrappable(current)) return;
  c.base = current;
  c.base_deleter = current->raw_deleter();
  start_ = c.current.load();
  c.peak = start_;
  c10::SetCPUAllocator(&counting_allocator(), std::numeric_limits<uint8_t>::max());
  c.installed = true;
  counting_ = true;
}

PeakCpuBytes::~PeakCpuBytes() {
  if (!counting_) return;
  auto& c = counter();
  c10::SetCPUAllocator(c.base, std::numeric_limits<uint8_t>::max());
  c.installed = false;
}

uint64_t PeakCpuBytes::peak() const {
  if (!counting_) return 0;
  const uint64_t p = counter().peak.load();
  return p > start_ ? p - start_ : 0;
}

void PeakCpuBytes::reset() {
  if (!counting_) return;
  auto& c = counter();
  start_ = c.current.load();
  c.peak = start_;
}

}  // namespace dmgn
