#pragma once
// Learning-rate schedules (optim.schedule): "constant", "cosine" from the base rate down
// to final_lr_factor x base over the run's total steps, or "linear" (CycleGAN's and
// Physics-GAN's "lambda" policy): the base rate until the fraction optim.decay_start of the run
// (0.5 when the config has no such key: 100 + 100 epochs), then linearly down to 0 at the end,
// or "step": the base rate times optim.gamma (0.1) at each fraction optim.milestones of the run
// (recipe keys; [0.5, 0.75] without them): MBN's "x0.1 twice" at fixed points.
#include <torch/torch.h>

#include <string>
#include <vector>

#include "core/config.h"

namespace dmgn::train {

class LrSchedule {
 public:
  LrSchedule(const Config& cfg, int64_t total_steps);
  // Factor applied to the base rates for the step about to run (0-based).
  double factor(int64_t step) const;
  // Sets every parameter group of an Adam optimizer to base_lr * factor(step).
  void apply(torch::optim::Adam& opt, double base_lr, int64_t step) const;

 private:
  bool cosine_, linear_, step_ = false;
  std::vector<double> milestones_;
  double gamma_ = 0.1;
  double final_, decay_start_ = 0.5;
  int64_t total_;
};

}  // namespace dmgn::train
