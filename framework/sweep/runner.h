#pragma once
// Running a sweep: every expanded run is a `dmgn train CONFIG --set ... --resume` child
// process (through `dmgn launch` when the sweep asks for nproc > 1), at most `workers` at
// once. A run whose config hash already has a completed run in the store is skipped; an
// interrupted one (or one whose process died: status 'running' but nobody holds its lock) is
// resumed from its latest checkpoint by the child's --resume. Each child holds an flock on
// <store folder>/sweep_locks/<hash>.lock for its lifetime (inherited across exec), so two
// sweep processes on the same file share the work and `status` tells running from dead.
// SIGINT/SIGTERM are forwarded to the children (which checkpoint and mark their runs
// interrupted); the next `dmgn sweep` resumes them. A failed run is reported with its log
// file and retried only with retry_failed.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "store/run_store.h"
#include "sweep/spec.h"

namespace dmgn::sweep {

enum class State { not_started, running, done, failed, interrupted };
const char* state_name(State s);  // "to do", "running", "done", "failed", "interrupted"

struct RunStatus {
  SweepRun run;
  State state = State::not_started;
  std::optional<store::RunRow> row;  // the store's most relevant run of this hash, if any
  std::vector<store::Metric> test;   // its test metrics at the highest step (done runs)
};

// The state of every run, from the store(s) and the lock files.
std::vector<RunStatus> sweep_status(const std::vector<SweepRun>& runs);

// "12 done, 2 running, 1 failed, 0 interrupted, 6 to do"
std::string count_line(const std::vector<RunStatus>& status);
// A fixed-width table: #, variant, seed, state, run id, hash, test metrics.
std::string format_status(const SweepSpec& spec, const std::vector<RunStatus>& status);

struct SweepOptions {
  int workers = 1;
  int threads = 0;                      // runtime.threads per run; 0 = cores / (workers * nproc)
  bool retry_failed = false;
  bool dry_run = false;                 // print what would run, run nothing
  std::vector<std::string> extra_sets;  // appended to every run (e.g. runtime.store)
  std::filesystem::path log_dir;        // default: <store folder>/sweeps/<sweep name>/
  bool quiet = false;                   // no per-run progress lines
};

struct SweepOutcome {
  int total = 0, already_done = 0, started = 0, completed = 0, failed = 0, busy_elsewhere = 0;
  bool interrupted = false;
  std::vector<std::string> failures;  // "<label>: <reason> (log: <file>)"
};

SweepOutcome run_sweep(const SweepSpec& spec, const SweepOptions& options);

// The sweep's lock file of a run (its folder created on demand; core/file_lock.h tells whether a
// live process holds it). The run itself also has its trainer's lock (store/liveness.h).
std::filesystem::path lock_file(const SweepRun& run, bool create = true);  // create: its folder

}  // namespace dmgn::sweep
