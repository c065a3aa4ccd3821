#pragma once
// Multiply-accumulate counting, per thread.
//   MacCounter c;  model->forward(x);  c.total();   // MACs run on this thread meanwhile
// Layers report work with `if (counting()) count_macs(n)`: a convolution
// n = out.numel() * in_channels / groups * kh * kw, a linear layer n = out.numel() * in_features.
// Counters nest: count_macs adds to every counter alive on the calling thread. They are scoped
// objects (not copyable or movable) and must be destroyed in reverse order of creation, which
// stack scoping guarantees; the destructor restores the previous counting state. Counting is
// per thread: calls made on other threads are not seen.
#include <cstdint>

namespace dmgn::metrics {

class MacCounter {
 public:
  MacCounter();   // enables counting on this thread
  ~MacCounter();  // restores the previous state (the enclosing counter, or none)
  MacCounter(const MacCounter&) = delete;
  MacCounter& operator=(const MacCounter&) = delete;

  // MACs counted on this thread since this counter was created.
  uint64_t total() const { return total_; }

 private:
  friend void count_macs(uint64_t n);
  MacCounter* enclosing_;
  uint64_t total_ = 0;
};

// Adds n to every live counter on this thread; a no-op when none is live.
void count_macs(uint64_t n);

// True while a MacCounter is alive on this thread.
bool counting();

}  // namespace dmgn::metrics
