#pragma once
// Trainer: one run of a resolved config, end to end, on one data-parallel worker (the launch
// environment decides the rank and world size, train/distributed.h). The config's training
// recipe (train/recipe.h) holds the named modules, loss terms and optimizers; the loader gives this rank its shard of
// each global step (train.batch_size samples per rank); prints a progress line (step, losses, it/s, ETA) every
// runtime.log_every steps; validates (PSNR/SSIM vs the identity baseline) every
// train.val_every steps; checkpoints atomically every train.checkpoint_every steps and at the
// end; evaluates data.test at the end; logs everything to the run store (runtime.store).
// A NaN/Inf loss follows train.nonfinite ("stop": error naming the step and the term;
// "skip": the step's update is dropped and counted). SIGINT/SIGTERM/SIGUSR1 checkpoint and mark
// the run "interrupted" (SIGUSR1, a scheduler's warning before its time limit, also sets
// `requeue`); `resume` continues a run from its latest checkpoint.
// Data-parallel: rank 0 alone opens the store, prints progress and writes checkpoints (with
// every rank's RNG state); validation and test metrics are reduced across ranks; at every
// checkpoint the ranks compare a hash of every module's parameters (provenance ranks_in_sync;
// buffers legitimately differ between steps and are re-broadcast before each).
// Resume needs the world size the checkpoint was written with.
#include <filesystem>
#include <vector>

#include "core/config.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "models/outputs.h"
#include "train/distributed.h"
#include "train/evaluate.h"

namespace dmgn::train {

struct TrainOptions {
  // Continue the most recent unfinished run with this config hash and world size from its
  // latest checkpoint (a fresh run when there is none). Metrics the crashed run logged after
  // that checkpoint are deleted, so the resumed run's record equals an uninterrupted one.
  bool resume = false;
  // The worker's collective; null = from the launch environment (torchrun variables).
  CollectivePtr collective;
};

struct TrainSummary {
  int64_t run_id = 0;
  std::filesystem::path run_dir;
  int64_t steps = 0;
  int64_t skipped_steps = 0;
  std::vector<EvalResult> tests;
  bool interrupted = false;
  bool requeue = false;  // interrupted by SIGUSR1: the scheduler should run it again (exit 4)
  int world_size = 1;
  int rank = 0;
  bool ranks_in_sync = true;  // parameter hashes agreed at every check
};

TrainSummary run_training(const Config& cfg, const TrainOptions& options = {});

// Applies runtime.threads (0 = all cores) to torch's intra-op pool.
void apply_threads(const Config& cfg);
// runtime.device ("cpu" / "cuda"); error if CUDA is asked for and absent.
torch::Device runtime_device(const Config& cfg);
// runtime_device for this worker: on CUDA, the GPU of its LOCAL_RANK (modulo the GPU count).
torch::Device worker_device(const Config& cfg);
// The collective of this process: world size 1 without launch variables, else the
// rendezvous of train/distributed.h with runtime.dist_backend and runtime.dist_timeout_s.
CollectivePtr collective_from_environment(const Config& cfg);
// data::open_dataset for the config's model: the dataset refuses samples smaller than the model
// takes (models::input_requirement), by name, under data.on_bad_sample.
data::DatasetPtr open_for_model(const Config& cfg, const std::string& name, data::Split split);
// The training loader's options for this worker: train.batch_size per rank, run.seed,
// data.workers, and the collective's rank and world size (data/loader.h: the shard rule).
data::LoaderOptions train_loader_options(const Config& cfg, const Collective& collective);
// ConfigError naming data.crop when training crops (unpadded) are smaller than the model takes
// or not a multiple of what it takes (models::InputRequirement).
void check_crop_fits_model(const Config& cfg);
// The same for the whole training step of a model declaring `spec`: the model and what its
// active loss terms and critic take on its outputs (losses::training_requirement).
void check_crop_fits_training(const Config& cfg, const models::ModelSpec& spec);

}  // namespace dmgn::train
