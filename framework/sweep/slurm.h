#pragma once
// The Slurm executor of a sweep (`dmgn sweep FILE --executor slurm`): the runs that are neither
// completed nor queued go to Slurm as one job array, one array task per run (the task id is
// the run's index in the sweep), through a generated batch script kept beside the sweep's logs
// (<log dir>/slurm/submit-<time>.sbatch) where a person can read and resubmit it.
//
// Stores: no compute node writes the sweep's main store. Each run trains with its own store
// and folders under <log dir>/runs/<index>-<hash>/ (runs.sqlite, runs/<run folder>), one writer
// per file; the main store takes the completed ones by RunStore::gather (store/run_store.h),
// which `sweep status` does and `dmgn gather <log dir>/runs` does by hand.
//
// Each array task runs `srun dmgn train CONFIG --resume ...`: nodes x tasks per node ranks (one
// per GPU with gpus_per_node, else the sweep's nproc), which read Slurm's variables
// (train/distributed.h). Slurm sends SIGUSR1 `signal_before_s` seconds before the time limit;
// the trainer checkpoints and exits 4, and the script requeues its own array task (scontrol
// requeue) up to max_requeues times (SLURM_RESTART_COUNT); the requeued task resumes from that
// checkpoint (--resume). Any other failure is not requeued: a run whose store says failed, or
// that Slurm saw fail (FAILED, OUT_OF_MEMORY, NODE_FAIL, BOOT_FAIL), is submitted again only with
// retry_failed; a timed-out, cancelled or preempted one resumes. Submissions are recorded in
// <log dir>/slurm/jobs.tsv (job id, run index, hash), which `status` reads to ask Slurm
// (scontrol show job) for each run's state.
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "sweep/runner.h"
#include "sweep/spec.h"

namespace dmgn::sweep {

struct SlurmOptions {
  std::string partition;                // sbatch --partition (empty: the cluster's default)
  std::string time_limit;               // sbatch --time ("30", "4:00:00", "1-12"); empty: the partition's
  int nodes = 1;                        // nodes per run
  int gpus_per_node = 0;                // --gres=gpu:N and one rank per GPU; 0: nproc CPU ranks per node
  int cpus_per_task = 0;                // CPUs per rank (= its torch threads); 0: Slurm's default (1)
  int max_concurrent = 0;               // the array's %N throttle; 0: none
  int max_requeues = 3;                 // requeues after SIGUSR1 per array task
  int signal_before_s = 300;            // SIGUSR1 this long before the time limit
  bool retry_failed = false;            // also submit runs whose store says failed
  bool dry_run = false;                 // write the script, submit nothing
  std::vector<std::string> sbatch_args;  // extra #SBATCH lines ("--account=x", "--qos=high")
  std::vector<std::string> extra_sets;  // every run's extra overrides (as for the local executor)
  std::filesystem::path log_dir;        // default <store folder>/sweeps/<sweep name>/
};

// The folder holding one run's own store and run folders under a sweep's log folder.
std::filesystem::path slurm_run_root(const std::filesystem::path& log_dir, const SweepRun& run);
// The default log folder of a sweep (as the local executor's).
std::filesystem::path sweep_log_dir(const SweepSpec& spec, const std::vector<SweepRun>& runs,
                                    const std::filesystem::path& given);

// Slurm's view of one run: the latest array task recorded for it.
struct SlurmTask {
  std::string job_id;  // "<array job>_<run index>"
  std::string state;   // PENDING, RUNNING, REQUEUED, COMPLETED, FAILED, ... ("" when Slurm no longer knows it)
  std::string reason;  // Slurm's Reason field (why pending, why failed)
  int restarts = 0;    // times requeued
  std::string exit_code;
};

struct SlurmRunStatus {
  RunStatus status;     // from the main store, else the run's own store
  std::optional<SlurmTask> slurm;
  std::filesystem::path log;  // the array task's output file
  bool queued() const;  // Slurm still holds it (pending, running, requeued, ...)
};

// Gathers the completed runs' own stores into their main store, then each run's state from
// the stores and from Slurm (scontrol; a cluster that cannot be asked leaves `slurm` empty).
std::vector<SlurmRunStatus> slurm_status(const std::vector<SweepRun>& runs, const std::filesystem::path& log_dir);
std::string format_slurm_status(const SweepSpec& spec, const std::vector<SlurmRunStatus>& status);

struct SlurmSubmission {
  std::string job_id;            // the array job's id ("" for a dry run or nothing to submit)
  std::filesystem::path script;  // the batch script written
  std::vector<int> indices;      // the runs submitted (their sweep indices)
  int done = 0, queued = 0, failed_kept = 0;
};

// The batch script for `runs` (exe: the dmgn binary every task runs).
std::string slurm_script(const SweepSpec& spec, const std::vector<SweepRun>& runs, const SlurmOptions& o,
                         const std::filesystem::path& log_dir, const std::string& exe);

// Submits what is neither completed nor queued nor failed (retry_failed: failed too) and records
// it; a failing sbatch is an IoError with its output.
SlurmSubmission submit_slurm(const SweepSpec& spec, const SlurmOptions& o);

// Parses scontrol's one-line `key=value` records (exposed for tests): one map per job
// record, array task ranges ("ArrayTaskId=1-3%2") expanded into one record per task.
std::vector<std::map<std::string, std::string>> parse_scontrol_jobs(const std::string& text);

}  // namespace dmgn::sweep
