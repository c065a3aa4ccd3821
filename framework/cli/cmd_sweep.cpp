// dmgn sweep FILE [--workers N | --executor slurm ...] | dmgn sweep status FILE
#include <fmt/format.h>

#include <cstdio>
#include <filesystem>

#include "cli/commands.h"
#include "core/error.h"
#include "sweep/runner.h"
#include "sweep/slurm.h"

namespace dmgn::cli {

void add_sweep(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "sweep", "Run every run of a sweep file (ablations/*.toml): skip completed, resume interrupted, N at once");
  static std::string file, log_dir;
  static int workers = 1, threads = 0;
  static bool retry_failed = false, dry_run = false;
  static std::vector<std::string> sets;
  cmd->add_option("file", file, "Sweep file");
  cmd->add_option("--workers", workers, "Runs trained at once (separate processes)")
      ->check(within(1, 64, "each worker is a training process with its model, data workers and threads"));
  cmd->add_option("--threads", threads, "torch threads per run (default: cores / workers)")
      ->check(within(0, 512, "torch starts one OpenMP thread each"));
  add_output_options(cmd);  // every run's store and folders (default: each config's runtime.store)
  cmd->add_option("--set", sets, "Extra override for every run (repeatable; changes their config hash)");
  cmd->add_option("--log-dir", log_dir, "Worker logs (default: <store folder>/sweeps/<sweep name>/)");
  cmd->add_flag("--retry-failed", retry_failed, "Also rerun runs that failed (resuming from their checkpoint)");
  cmd->add_flag("--dry-run", dry_run, "List what would start or resume; run nothing (slurm: write the script only)");
  static std::string executor = "local";
  static sweep::SlurmOptions slurm;
  cmd->add_option("--executor", executor, "local: train here, --workers at once; slurm: submit a job array and return")
      ->check(CLI::IsMember({"local", "slurm"}));
  auto* g = cmd->add_option_group("Slurm", "With --executor slurm (sweep/slurm.h, README \"On a Slurm cluster\")");
  g->add_option("--partition", slurm.partition, "sbatch --partition");
  g->add_option("--time", slurm.time_limit, "Time limit per run (sbatch --time: 30, 4:00:00, 1-12)");
  g->add_option("--nodes", slurm.nodes, "Nodes per run (one data-parallel run across them)")
      ->check(within(1, 4096, "nodes of one run"));
  g->add_option("--gpus-per-node", slurm.gpus_per_node, "GPUs per node (--gres=gpu:N), one rank per GPU; 0: CPU ranks")
      ->check(within(0, 64, "GPUs of one node"));
  g->add_option("--cpus-per-task", slurm.cpus_per_task, "CPUs per rank (its torch threads); 0: Slurm's default")
      ->check(within(0, 1024, "CPUs of one node"));
  g->add_option("--max-concurrent", slurm.max_concurrent, "At most N runs at once (the array's %N); 0: no limit")
      ->check(within(0, 100000, "array tasks"));
  g->add_option("--max-requeues", slurm.max_requeues, "Requeues per run after the time-limit signal")
      ->check(within(0, 1000, "requeues"));
  g->add_option("--signal-before", slurm.signal_before_s,
                "Seconds before the time limit that SIGUSR1 asks for a checkpoint")
      ->check(within(10, 65535, "Slurm's --signal accepts up to 65535 s"));
  g->add_option("--sbatch-arg", slurm.sbatch_args, "Extra sbatch argument, one #SBATCH line each (repeatable)");

  auto* status = cmd->add_subcommand("status", "Show done / running / failed / interrupted / to do per run");
  static std::string status_file;
  static std::vector<std::string> status_sets;
  status->add_option("file", status_file, "Sweep file")->required();
  status->add_option("--set", status_sets, "The extra overrides the sweep was run with (repeatable)");
  static std::string status_log_dir;
  status->add_option("--log-dir", status_log_dir, "The sweep's log folder, if it was given one");
  add_output_options(status);
  status->callback([] {
    const auto spec = sweep::load_sweep(status_file);
    std::vector<std::string> extra = status_sets;
    for (const auto& o : output_overrides()) extra.push_back(o);
    const auto runs = sweep::expand(spec, extra);
    // A sweep submitted to Slurm has its submission record: gather, and ask Slurm.
    const auto dir = sweep::sweep_log_dir(spec, runs, status_log_dir);
    if (std::filesystem::exists(dir / "slurm" / "jobs.tsv")) {
      std::printf("%s", sweep::format_slurm_status(spec, sweep::slurm_status(runs, dir)).c_str());
      return;
    }
    std::printf("%s", sweep::format_status(spec, sweep::sweep_status(runs)).c_str());
  });

  cmd->callback([status] {
    if (status->parsed()) return;
    if (file.empty()) throw ConfigError("dmgn sweep: give a sweep file (e.g. ablations/table1_small.toml)");
    const auto spec = sweep::load_sweep(file);
    const auto common = [](auto& opts) {  // what both executors take from the command line
      opts.retry_failed = retry_failed;
      opts.dry_run = dry_run;
      opts.log_dir = log_dir;
      opts.extra_sets = sets;
      for (const auto& s : output_overrides()) opts.extra_sets.push_back(s);
    };
    if (executor == "slurm") {
      common(slurm);
      const auto sub = sweep::submit_slurm(spec, slurm);
      std::printf("sweep %s: %d done, %d queued in Slurm, %d failed (not resubmitted without --retry-failed), %zu to "
                  "submit\n",
                  spec.name.c_str(), sub.done, sub.queued, sub.failed_kept, sub.indices.size());
      if (sub.indices.empty()) return;
      if (dry_run) {
        std::printf("dry run: batch script written to %s, nothing submitted\n", sub.script.string().c_str());
        return;
      }
      std::vector<std::string> words{"dmgn", "sweep", "status", file};
      if (!log_dir.empty()) words.insert(words.end(), {"--log-dir", log_dir});
      for (const auto& w : output_words()) words.push_back(w);
      for (const auto& set : sets) words.insert(words.end(), {"--set", set});
      std::printf("submitted job array %s (%zu task(s)); script %s\nfollow it (and gather) with: %s\n",
                  sub.job_id.c_str(), sub.indices.size(), sub.script.string().c_str(), shell_command(words).c_str());
      return;
    }
    sweep::SweepOptions o;
    o.workers = workers;
    o.threads = threads;
    common(o);
    const auto r = sweep::run_sweep(spec, o);
    if (dry_run) return;
    std::printf("\nsweep %s: %d runs: %d done before, %d started, %d completed, %d failed, %d running elsewhere\n",
                spec.name.c_str(), r.total, r.already_done, r.started, r.completed, r.failed, r.busy_elsewhere);
    for (const auto& f : r.failures) std::printf("  failed: %s\n", f.c_str());
    if (r.interrupted) {
      std::vector<std::string> words{"dmgn", "sweep", file};
      if (workers > 1) words.insert(words.end(), {"--workers", std::to_string(workers)});
      for (const auto& w : output_words()) words.push_back(w);
      for (const auto& set : sets) words.insert(words.end(), {"--set", set});
      std::printf("interrupted; continue with: %s\n", shell_command(words).c_str());
      std::fflush(stdout);
      throw ExitStatus{kExitInterrupted};
    }
    if (!r.failures.empty()) throw ExitStatus{kExitError};
  });
}

}  // namespace dmgn::cli
