#include "train/schedule.h"

#include <fmt/format.h>

#include <cmath>

#include "core/error.h"

namespace dmgn::train {

LrSchedule::LrSchedule(const Config& cfg, int64_t total_steps) : total_(std::max<int64_t>(1, total_steps)) {
  const auto kind = cfg.get_string("optim.schedule");
  if (kind != "constant" && kind != "cosine" && kind != "linear" && kind != "step")
    throw ConfigError(
        fmt::format("config key 'optim.schedule': '{}' is not one of constant, cosine, linear, step", kind));
  cosine_ = kind == "cosine";
  linear_ = kind == "linear";
  step_ = kind == "step";
  if (step_) {
    milestones_ = cfg.has("optim.milestones") ? cfg.get_floats("optim.milestones") : std::vector<double>{0.5, 0.75};
    gamma_ = cfg.has("optim.gamma") ? cfg.get_float("optim.gamma") : 0.1;
    for (size_t i = 0; i < milestones_.size(); ++i)
      if (!(milestones_[i] > 0 && milestones_[i] < 1) || (i > 0 && milestones_[i] <= milestones_[i - 1]))
        throw ConfigError("config key 'optim.milestones' must rise strictly inside (0, 1)");
    if (!(gamma_ > 0 && gamma_ <= 1)) throw ConfigError("config key 'optim.gamma' must be in (0, 1]");
  }
  if (cfg.has("optim.decay_start")) decay_start_ = cfg.get_float("optim.decay_start");
  if (!(decay_start_ >= 0 && decay_start_ < 1)) throw ConfigError("config key 'optim.decay_start' must be in [0, 1)");
  final_ = cfg.get_float("optim.final_lr_factor");
  if (final_ < 0 || final_ > 1) throw ConfigError("config key 'optim.final_lr_factor' must be in [0, 1]");
}

double LrSchedule::factor(int64_t step) const {
  if (linear_) {
    const double start = std::floor(decay_start_ * static_cast<double>(total_));
    const double s = static_cast<double>(step);
    if (s < start) return 1.0;
    return std::max(0.0, 1.0 - (s - start) / (static_cast<double>(total_) - start));
  }
  if (step_) {
    double f = 1.0;
    for (const double m : milestones_)
      if (static_cast<double>(step) >= std::floor(m * static_cast<double>(total_))) f *= gamma_;
    return f;
  }
  if (!cosine_) return 1.0;
  const double t = std::clamp(static_cast<double>(step) / static_cast<double>(total_), 0.0, 1.0);
  return final_ + 0.5 * (1.0 - final_) * (1.0 + std::cos(M_PI * t));
}

void LrSchedule::apply(torch::optim::Adam& opt, double base_lr, int64_t step) const {
  const double lr = base_lr * factor(step);
  for (auto& group : opt.param_groups()) static_cast<torch::optim::AdamOptions&>(group.options()).lr(lr);
}

}  // namespace dmgn::train
