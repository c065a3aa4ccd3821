#pragma once
// Progress line for long loops: "step 120/2000 | <fields> | 2.31 it/s | ETA 12m34s".
// Rate is measured over the steps since the previous report (steady-state throughput).
#include <chrono>
#include <cstdint>
#include <string>

namespace dmgn {

std::string format_duration(double seconds);  // "1h02m", "12m34s", "8.1s"

class Progress {
 public:
  Progress(int64_t total_steps, int64_t start_step = 0);
  // Returns the line for `step` (the number of steps done) with `fields` in the middle.
  std::string line(int64_t step, const std::string& fields);
  double rate() const { return rate_; }  // it/s over the last interval
  double elapsed() const;

 private:
  using Clock = std::chrono::steady_clock;
  int64_t total_, last_step_;
  Clock::time_point start_, last_time_;
  double rate_ = 0;
};

}  // namespace dmgn
