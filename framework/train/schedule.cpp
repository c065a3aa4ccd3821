#include "train/schedule.h"

#include <fmt/format.h>

#include <cmath>

#include "core/error.h"

namespace dmgn::train {

LrSchedule::LrSchedule(const Config& cfg, int64_t total_steps) : total_(std::max<int64_t>(1, total_steps)) {
  const auto kind = cfg.get_string("optim.schedule");
  if (kind != "constant" && kind != "cosine")
    throw ConfigError(fmt::format("config key 'optim.schedule': '{}' is not one of constant, cosine", kind));
  cosine_ = kind == "cosine";
  final_ = cfg.get_float("optim.final_lr_factor");
  if (final_ < 0 || final_ > 1) throw ConfigError("config key 'optim.final_lr_factor' must be in [0, 1]");
}

double LrSchedule::factor(int64_t step) const {
  if (!cosine_) return 1.0;
  const double t = std::clamp(static_cast<double>(step) / static_cast<double>(total_), 0.0, 1.0);
  return final_ + 0.5 * (1.0 - final_) * (1.0 + std::cos(M_PI * t));
}

void LrSchedule::apply(torch::optim::Adam& opt, double base_lr, int64_t step) const {
  const double lr = base_lr * factor(step);
  for (auto& group : opt.param_groups()) static_cast<torch::optim::AdamOptions&>(group.options()).lr(lr);
}

}  // namespace dmgn::train
