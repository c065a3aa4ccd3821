#pragma once
// TrainSession: what one data-parallel worker trains with — the model, the discriminator
// (when the objective has an adversarial term), the objective, Adam for both (optim.*), the
// LR schedule and the gradient buckets — and one optimisation step with DDP semantics:
//   1. G forward on this rank's batch;
//   2. critic step (Eq. 14) on the detached output: loss, agreement across ranks on whether
//      it is finite, backward, bucketed gradient averaging, Adam, Lipschitz constraint;
//   3. generator loss (Eq. 11-17), one all-reduce that carries the stop flag, per-term
//      non-finite flags and the loss values, then backward, averaging, Adam.
// Every rank takes the same decision (skip, stop, continue) from the reduced flags, so ranks
// never diverge or wait on each other. The constructor broadcasts rank 0's initial parameters
// and buffers (DDP's initial sync).
#include <string>
#include <utility>
#include <vector>

#include "core/config.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "models/model.h"
#include "nn/discriminators.h"
#include "train/checkpoint.h"
#include "train/distributed.h"
#include "train/execution.h"
#include "train/objective.h"
#include "train/schedule.h"

namespace dmgn::train {

struct StepResult {
  bool skipped = false;        // a non-finite loss on some rank; the update was dropped
  std::string bad_term;        // the term that was non-finite (when skipped)
  std::string diagnosis;       // what else was non-finite then (train/nonfinite.h)
  bool stop_requested = false; // some rank asked to stop (signal); all ranks see it
  double loss = 0, d_loss = 0; // averaged over ranks
  std::vector<std::pair<std::string, double>> terms;  // weighted terms, averaged over ranks
};

// The training loader's options for this worker: train.batch_size per rank, run.seed,
// data.workers, and the collective's rank and world size (data/loader.h: the shard rule).
data::LoaderOptions train_loader_options(const Config& cfg, const Collective& collective);

class TrainSession {
 public:
  // total_steps sizes the LR schedule.
  TrainSession(const Config& cfg, CollectivePtr collective, torch::Device device, int64_t total_steps);

  // One step at 0-based index `step` (the LR schedule's position). `stop_here` is this
  // rank's wish to stop (e.g. a signal arrived); it is OR-ed over ranks into the result.
  // train.nonfinite = "stop" throws an Error naming the step (1-based) and the term.
  StepResult step(const data::Batch& batch, int64_t step, bool stop_here = false);

  models::Model& model() { return *model_; }
  nn::Discriminator* discriminator() { return disc_.get(); }
  const Objective& objective() const { return *objective_; }
  Collective& collective() { return *coll_; }
  const CollectivePtr& collective_ptr() const { return coll_; }
  const torch::Device& device() const { return device_; }
  const Execution& execution() const { return exec_; }
  // Puts the model's and discriminator's 4-D tensors back in the run's memory format (after
  // a checkpoint was loaded into them, which keeps the file's layout).
  void lay_out();
  CheckpointParts parts();
  bool has_discriminator() const { return disc_ != nullptr; }

 private:
  void set_disc_grad(bool on);
  [[noreturn]] void nonfinite_stop(int64_t step, const std::string& term, const std::string& diagnosis) const;

  CollectivePtr coll_;
  torch::Device device_;
  Execution exec_;
  std::string nonfinite_;
  models::ModelPtr model_;
  std::unique_ptr<Objective> objective_;
  nn::DiscriminatorPtr disc_;
  std::unique_ptr<torch::optim::Adam> opt_g_, opt_d_;
  std::unique_ptr<GradientBuckets> g_buckets_, d_buckets_;
  std::unique_ptr<LrSchedule> schedule_;
  double lr_g_ = 0, lr_d_ = 0;
};

}  // namespace dmgn::train
