#pragma once
// The table none of the seed papers has (`dmgn report systems`): every system of the registry
// (DMGN, Location-aware SIRR, Physics-GAN, MBN, R-MBN) against every task (reflection, rain,
// haze, blur, JPEG, mixed), from the store. A cell is the most recent completed run of that
// system whose end-of-training test covered that task (a dataset's task: its part's task for
// multi-task data, else the run's task.name), scored under the TASK's convention
// (metrics::task_spec: reflection real20, rain rain100, haze sots, blur physics_gan, jpeg mbn,
// mixed mbn_rgb) so that a column compares like with like: a test logged under another
// convention is re-scored from the run's checkpoint on the same data (train/cross_eval.h:
// stored, and reused next time). A pair a system cannot run says why; a pair without a run says
// so. The identity row is the input's score per column. Where a system has no run trained and
// tested on a task, its latest `dmgn eval` of a completed run on that task's data fills the cell,
// marked (store origin "eval" / "cross-system"; under the column's convention, re-scored like a
// test when it is not).
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "store/run_store.h"

namespace dmgn::train {

struct SystemsOptions {
  std::string experiment, sweep;  // only runs of these ("" = any)
  std::vector<std::string> datasets;  // only evaluations on these ("" = any)
  std::string overlay;                // a config file over a run's config to open a dataset (--config)
  std::vector<std::string> sets;      // overrides on it (--set)
  bool evaluate_missing = true;   // false: a test under another convention stays unconverted
  int64_t max_samples = 0;        // for re-scoring (0 = all)
};

struct SystemsCell {
  std::optional<store::Evaluation> eval;  // under the task's convention (or `logged_as` when not)
  std::optional<store::RunRow> run;
  std::string why;          // empty when eval is set: "cannot run: ..." or "no run"
  std::string logged_as;    // the run's own preset, when it differs from the task's convention
  bool rescored = false;    // eval was computed / reused by re-scoring under the convention
  // The cell's number is a `dmgn eval` (or cross-system) evaluation of a run trained for
  // another task: no run of this system was trained and tested on this task.
  bool by_eval = false;
};

struct SystemsTable {
  std::vector<std::string> systems, tasks;
  std::map<std::pair<std::string, std::string>, SystemsCell> cells;  // (system, task)
  std::map<std::string, std::string> convention;                     // task -> preset
  int64_t computed = 0, reused = 0;
};

// The system a run's config trains ("DMGN", "R-MBN", ...); "" for a model outside the list.
std::string system_of(const std::string& config_text);
// Why `system` cannot run `task` ("" when it can).
std::string cannot_run(const std::string& system, const std::string& task);

SystemsTable systems_table(store::RunStore& store, const SystemsOptions& options);

}  // namespace dmgn::train
