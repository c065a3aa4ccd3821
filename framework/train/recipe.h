#pragma once
// Training recipes (registry kind "recipe", config key train.recipe): a recipe owns one
// optimisation step — which named modules and optimizers exist, the order of the updates,
// which loss terms (losses/terms.h) each update takes. The DMGN critic + generator step is the
// "dmgn" recipe (systems/dmgn/recipe_dmgn.cpp). A recipe is registered beside its definition,
// by its system's folder (framework/systems/<name>/register.cpp).
//
// What every recipe keeps is here, in the non-virtual frame, and a recipe cannot skip it:
//   - each optimizer's learning-rate schedule is applied before the step;
//   - every module's buffers are re-broadcast from rank 0 before the step (DDP), and its
//     parameters at construction (DDP's initial sync);
//   - update() reduces, in one all-reduce, this rank's stop wish, the phase's non-finite flags
//     and its loss values; every rank then takes the same decision: a phase with a non-finite
//     term on any rank (or after such a phase) does not update, the step is skipped or stopped
//     (train.nonfinite), and a stop wish on any rank stops every rank after the step;
//   - gradients are averaged over ranks in buckets before every optimizer step;
//   - forward() runs the recipe's computations under the run's autocast (train.precision).
// With runtime.host_sync = "log" the same decisions are taken on the device, with no host
// synchronisation inside a step: each phase's loss values and non-finite flags are reduced
// over ranks as one device tensor, a capturable Adam (train/device_adam.h) drops the update
// of a non-finite phase (and of every later phase of that step; under "stop" of every later
// step too, so the parameters stay those of the failing step), and settle() reads what
// happened since the last settle in one transfer: the trainer calls it on its logging,
// validation and checkpoint steps and at the end, where it also reduces the ranks' stop
// wishes (a signal is honoured there). train.nonfinite = "stop" then throws at that settle,
// naming the first non-finite step and term.
// Checkpoints hold the named modules and optimizers (train/checkpoint.h); the ranks' sync
// check hashes all of them.
#include <torch/torch.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/config.h"
#include "core/registry.h"
#include "data/dataset.h"
#include "losses/terms.h"
#include "models/model.h"
#include "train/checkpoint.h"
#include "train/device_adam.h"
#include "train/distributed.h"
#include "train/execution.h"
#include "train/schedule.h"

namespace dmgn::train {

struct StepResult {
  bool skipped = false;         // a non-finite loss on some rank; the update was dropped
  std::string bad_term;         // the term that was non-finite (when skipped)
  std::string diagnosis;        // what else was non-finite then (train/nonfinite.h)
  bool stop_requested = false;  // some rank asked to stop (signal); all ranks see it
  double loss = 0;              // the main update's total, averaged over ranks
  std::vector<std::pair<std::string, double>> terms;   // its weighted terms, averaged over ranks
  std::vector<std::pair<std::string, double>> others;  // other updates' totals (DMGN: d_loss)
  double other(const std::string& name) const;         // 0 when absent
  // runtime.host_sync = "log": true until Recipe::settle() has read the step from the device
  // (loss, terms, others, skipped and stop_requested are then filled in).
  bool pending = false;
  int64_t skipped_steps = 0;        // steps skipped since the last settle (host sync: 0 or 1)
  int64_t first_skipped_step = -1;  // the first of them, 0-based (bad_term names its term)
};

// Where a recipe runs: the resolved config, this worker's collective and device, and the
// run's length (for the schedule).
struct RecipeEnv {
  const Config& cfg;
  CollectivePtr collective;
  torch::Device device;
  int64_t total_steps = 0;
};

class Recipe {
 public:
  explicit Recipe(const RecipeEnv& env);
  virtual ~Recipe() = default;
  Recipe(const Recipe&) = delete;
  Recipe& operator=(const Recipe&) = delete;

  // One step at 0-based index `step` on this rank's batch; `stop_here` is this rank's wish to
  // stop. train.nonfinite = "stop" throws an Error naming the step (1-based) and the term.
  StepResult step(const data::Batch& batch, int64_t step, bool stop_here = false);
  // runtime.host_sync = "log": whether step() leaves its results on the device.
  bool deferred() const { return deferred_; }
  // Reads a pending result (the last step's values, what was skipped since the last settle)
  // and reduces this rank's stop wish with every rank's; every rank must settle at the same
  // steps. Writes the device-side Adam step counts back into the optimizers' state, so that
  // a checkpoint may follow. Throws as step() does under train.nonfinite = "stop". No-op for
  // a result that is not pending.
  void settle(StepResult& res, bool stop_here = false);

  // The restoration network (evaluated, exported); a recipe adds it as module "model".
  virtual models::Model& model() = 0;
  // The frozen VGG-19 the losses use (the model's own, or one the recipe holds), or null: the
  // run's vgg_weights provenance.
  virtual nn::Vgg19 loss_vgg() { return model().shared_vgg(); }
  CheckpointParts parts() const;
  // Puts every module's 4-D tensors back in the run's memory format (after a checkpoint load).
  void lay_out();
  const Execution& execution() const { return exec_; }
  Collective& collective() { return *coll_; }
  const CollectivePtr& collective_ptr() const { return coll_; }
  const torch::Device& device() const { return device_; }
  // FNV-1a over the parameters of every module, in registration order.
  uint64_t parameter_hash() const;

 protected:
  // One step's state for run(): the batch in model space by name, and the phases so far.
  class Frame {
   public:
    const losses::NamedTensors& batch() const { return batch_; }
    // This step's 0-based index (a recipe that changes its updates over the run: a GAN term
    // that joins after a warm-up).
    int64_t step() const { return step_; }
    // The task all of the batch's samples are for ("" when unknown); DataError when the batch
    // mixes tasks (a task-routed model takes one path per batch).
    std::string task() const;
    // Runs f under the run's autocast.
    template <class F>
    auto forward(F&& f) const {
      const auto amp = owner_.exec_.autocast();
      return f();
    }
    // The shared update of one phase (see the header comment): reduce, agree, then zero the
    // optimizer's gradients, backward tv.total, average, step. `report` names the phase's total
    // in StepResult ("loss" = the main one, whose terms are reported; else e.g. "d_loss");
    // `bad_name` names a non-finite total that has no terms. Returns whether it updated.
    // `before_step`, when given, runs between the gradient averaging and the optimizer step (so
    // every rank sees the same gradients): e.g. clipping a parameter's gradient.
    // Under runtime.host_sync = "log" it returns true: only the device knows whether the update
    // was dropped (a follow-up such as weight clipping then runs on unchanged parameters).
    bool update(const std::string& optimizer, const losses::TermValues& tv, const std::string& report,
                const std::string& bad_name = "total", const std::function<void()>& before_step = nullptr);
    // The model outputs of this step, for the non-finite diagnosis (kept until the step ends).
    void note_outputs(const models::Outputs& out) { outputs_ = out; }
    // Also logs the main update's total under `name` (e.g. "loss_blur": a per-task curve when
    // steps alternate between tasks); call after that update.
    void report_loss_as(const std::string& name);

   private:
    friend class Recipe;
    Frame(Recipe& owner, bool stop_here, int64_t step) : owner_(owner), stop_here_(stop_here), step_(step) {}
    Recipe& owner_;
    bool stop_here_;
    int64_t step_;
    losses::NamedTensors batch_;
    std::vector<std::string> tasks_;
    models::Outputs outputs_;
    StepResult result_;
    std::vector<std::string> bad_;  // per failed phase: its first non-finite term
  };

  // The recipe's step: forward, losses, updates in its order.
  virtual void run(Frame& frame) = 0;

  // Construction: a module moved to the device and laid out, its parameters broadcast from
  // rank 0. Registration order is the checkpoint's and the sync hash's order. A rank-local
  // module (e.g. an image pool: each rank's own history) is never broadcast, neither at
  // construction nor its buffers before each step; checkpoints hold rank 0's.
  void add_module(const std::string& name, std::shared_ptr<torch::nn::Module> module, bool rank_local = false);
  // Adam over `params` (those requiring gradients), its base rate following optim.schedule,
  // its gradients averaged in runtime.bucket_mb buckets.
  void add_adam(const std::string& name, std::vector<torch::Tensor> params, double lr, std::pair<double, double> betas);
  // Each rank then draws its own random numbers (e.g. gradient-penalty interpolates): call
  // after the modules are built and broadcast.
  void split_rng_streams();
  const Config& cfg() const { return cfg_; }

 private:
  struct Optim {
    std::string name;
    std::unique_ptr<torch::optim::Adam> adam;
    std::unique_ptr<GradientBuckets> buckets;
    double lr = 0;
    std::unique_ptr<DeviceAdam> device;  // runtime.host_sync = "log"
    torch::Tensor lr_now;                // its rate this step (0-d float64 on the device)
  };
  [[noreturn]] void nonfinite_stop(int64_t step, const std::string& term, const std::string& diagnosis) const;
  Optim& optim(const std::string& name);
  std::string diagnose() const;
  // runtime.host_sync = "log" (train/recipe_deferred.cpp).
  bool update_on_device(Optim& o, const losses::TermValues& tv, const std::string& report,
                        const std::string& bad_name, const std::function<void()>& before_step);
  void begin_deferred_step();
  void end_deferred_step();
  torch::Tensor term_ids(const std::vector<std::string>& names);
  struct PhaseValues {
    std::string report;
    std::vector<std::string> terms;
    torch::Tensor values;  // [term_1..term_n, total], float64, summed over ranks, on the device
  };
  struct Pending {
    torch::Tensor step_bad;    // 0-d bool: a phase of the current step was non-finite
    torch::Tensor step_code;   // 0-d int64: term id of that step's last failed phase
    torch::Tensor sticky;      // 0-d bool: "stop": a step since the last settle failed (no more updates)
    torch::Tensor skipped;     // 0-d int64: steps that failed since the last settle
    torch::Tensor first_step;  // 0-d int64: the first of them (0-based), -1 = none
    torch::Tensor first_code;  // 0-d int64: its term id
    torch::Tensor index;       // 0-d int64: the current step's index
  };
  bool deferred_ = false;
  Pending pending_;
  std::vector<PhaseValues> last_phases_;  // the last step's updates, in order
  std::vector<std::string> term_names_;   // term id -> name (stable over the run)
  std::map<std::string, torch::Tensor> term_id_tensors_;  // by joined names: their ids on the device

  Config cfg_;
  CollectivePtr coll_;
  torch::Device device_;
  Execution exec_;
  // An fp64 run: torch's default dtype is float64 while the recipe lives, so every tensor its
  // modules create without explicit options is float64 too (restored after).
  struct DefaultDtype {
    explicit DefaultDtype(bool fp64);
    ~DefaultDtype();
    DefaultDtype(const DefaultDtype&) = delete;
    DefaultDtype& operator=(const DefaultDtype&) = delete;
    bool on;
    caffe2::TypeMeta previous;
  } default_dtype_;
  std::string nonfinite_;
  uint64_t seed_;
  std::vector<std::pair<std::string, std::shared_ptr<torch::nn::Module>>> modules_;
  std::vector<std::string> rank_local_;  // names of modules that are not broadcast
  bool is_rank_local(const std::string& name) const;
  std::vector<Optim> optims_;
  std::unique_ptr<LrSchedule> schedule_;
};
using RecipePtr = std::unique_ptr<Recipe>;

// Turns off requires_grad of the modules' parameters for a scope (a generator's loss must not
// build graphs into its critics); restored when the scope ends, also by an exception.
class FrozenParameters {
 public:
  explicit FrozenParameters(std::vector<torch::nn::Module*> modules) : modules_(std::move(modules)) { set(false); }
  ~FrozenParameters() { set(true); }
  FrozenParameters(const FrozenParameters&) = delete;
  FrozenParameters& operator=(const FrozenParameters&) = delete;

 private:
  void set(bool on) {
    for (auto* m : modules_)
      if (m)
        for (auto& p : m->parameters()) p.set_requires_grad(on);
  }
  std::vector<torch::nn::Module*> modules_;
};

// registry "recipe": factory(env).
using RecipeRegistry = Registry<RecipePtr, const RecipeEnv&>;
RecipeRegistry& recipes();
// config's train.recipe, built; for a training-free model (models::training_free) the model
// alone, whatever train.recipe says (train/recipe_fixed.cpp).
RecipePtr build_recipe(const RecipeEnv& env);

}  // namespace dmgn::train
