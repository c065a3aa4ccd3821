#include "metrics/macs.h"

namespace dmgn::metrics {

namespace {
thread_local MacCounter* innermost = nullptr;
}

MacCounter::MacCounter() : enclosing_(innermost) { innermost = this; }

MacCounter::~MacCounter() { innermost = enclosing_; }

void count_macs(uint64_t n) {
  for (MacCounter* c = innermost; c != nullptr; c = c->enclosing_) c->total_ += n;
}

bool counting() { return innermost != nullptr; }

}  // namespace dmgn::metrics
