#include "core/progress.h"

#include <fmt/format.h>

#include <cmath>

namespace dmgn {

std::string format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  if (s < 60) return fmt::format("{:.1f}s", s);
  const auto total = static_cast<int64_t>(s + 0.5);
  if (total < 3600) return fmt::format("{}m{:02d}s", total / 60, total % 60);
  return fmt::format("{}h{:02d}m", total / 3600, (total % 3600) / 60);
}

Progress::Progress(int64_t total_steps, int64_t start_step)
    : total_(total_steps), last_step_(start_step), start_(Clock::now()), last_time_(start_) {}

double Progress::elapsed() const {
  return std::chrono::duration<double>(Clock::now() - start_).count();
}

std::string Progress::line(int64_t step, const std::string& fields) {
  const auto now = Clock::now();
  const double dt = std::chrono::duration<double>(now - last_time_).count();
  if (step > last_step_ && dt > 0) rate_ = static_cast<double>(step - last_step_) / dt;
  last_step_ = step;
  last_time_ = now;
  const double eta = rate_ > 0 ? static_cast<double>(total_ - step) / rate_ : NAN;
  return fmt::format("step {}/{} | {} | {:.2f} it/s | ETA {}", step, total_, fields, rate_,
                     format_duration(eta));
}

}  // namespace dmgn
