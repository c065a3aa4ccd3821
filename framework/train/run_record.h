#pragma once
// Rank 0's bookkeeping of a training run in the store: a fresh run (its row, folder and
// config copy) or the unfinished run to resume (latest checkpoint of the most recent
// unfinished run with the same config hash and world size), and the clean-up a resume needs.
// The planning process takes the run's lock (store/liveness.h) and holds it through the plan:
// one process trains a run at a time, however it was started, and a run whose process is gone
// shows as "died". Run folders are <out_dir>/<run id>-<config hash>-<random token>, created
// anew (never an existing folder), so stores sharing an out_dir never share a folder.
// The plan travels to the other ranks as a string (broadcast_string), so every rank loads
// the same checkpoint; a planning error travels the same way and stops every rank with it.
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "core/config.h"
#include "core/file_lock.h"
#include "store/run_store.h"

namespace dmgn::train {

struct RunPlan {
  int64_t run_id = 0;
  std::filesystem::path run_dir;
  std::filesystem::path checkpoint;  // empty: a fresh run
  std::string error;                 // non-empty: planning failed on rank 0
  std::shared_ptr<FileLock> lock;    // the run's lock (rank 0 only; not encoded)

  std::string encode() const;
  static RunPlan decode(const std::string& text);
};

struct RunIdentity {
  int world_size = 1;
  std::string device;
  std::map<std::string, std::string> provenance;
};

// Where run folders go: runtime.out_dir, or "" = beside the store (<folder of runtime.store>/runs),
// so that a store named on the command line keeps its runs with it (docs/outputs.md).
std::filesystem::path runs_folder(const Config& cfg);

// With `resume`, picks the run to continue (Error when its checkpoint was written by another
// world size, or when another process holds its lock); otherwise, or when there is none,
// begins a fresh run and creates its folder. A fresh run that cannot get its folder is marked
// failed before the error propagates.
RunPlan plan_run(store::RunStore& store, const Config& cfg, bool resume, const RunIdentity& id);

// After loading the plan's checkpoint at `step`: the run is 'running' again and the metrics
// the crashed run logged after that checkpoint are deleted (at the last step, also its
// validation and test rows, which the resumed run logs again).
void mark_resumed(store::RunStore& store, const RunPlan& plan, int64_t step, int64_t total_steps);

}  // namespace dmgn::train
