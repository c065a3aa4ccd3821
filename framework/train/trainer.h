#pragma once
// Trainer: one run of a resolved config, end to end. Builds the model, the discriminator and
// the objective from the registry; Adam for both (optim.*); iterates the train loader
// (epoch-seeded order); prints a progress line (step, losses, it/s, ETA) every
// runtime.log_every steps; validates (PSNR/SSIM vs the identity baseline) every
// train.val_every steps; checkpoints atomically every train.checkpoint_every steps and at the
// end; evaluates data.test at the end; logs everything to the run store (runtime.store).
// A NaN/Inf loss follows train.nonfinite ("stop": error naming the step and the term;
// "skip": the step's update is dropped and counted). SIGINT/SIGTERM checkpoint and mark the
// run "interrupted"; `resume` continues a run from its latest checkpoint.
#include <filesystem>
#include <vector>

#include "core/config.h"
#include "train/evaluate.h"

namespace dmgn::train {

struct TrainOptions {
  // Continue the most recent unfinished run with this config hash from its latest checkpoint
  // (a fresh run when there is none).
  bool resume = false;
};

struct TrainSummary {
  int64_t run_id = 0;
  std::filesystem::path run_dir;
  int64_t steps = 0;
  int64_t skipped_steps = 0;
  std::vector<EvalResult> tests;
  bool interrupted = false;
};

TrainSummary run_training(const Config& cfg, const TrainOptions& options = {});

// Applies runtime.threads (0 = all cores) to torch's intra-op pool.
void apply_threads(const Config& cfg);
// runtime.device ("cpu" / "cuda"); error if CUDA is asked for and absent.
torch::Device runtime_device(const Config& cfg);

}  // namespace dmgn::train
