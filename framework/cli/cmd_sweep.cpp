// dmgn sweep FILE [--workers N] | dmgn sweep status FILE
#include <fmt/format.h>

#include <cstdio>

#include "cli/commands.h"
#include "core/error.h"
#include "sweep/runner.h"

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
  cmd->add_flag("--dry-run", dry_run, "List what would start or resume; run nothing");

  auto* status = cmd->add_subcommand("status", "Show done / running / failed / interrupted / to do per run");
  static std::string status_file;
  static std::vector<std::string> status_sets;
  status->add_option("file", status_file, "Sweep file")->required();
  status->add_option("--set", status_sets, "The extra overrides the sweep was run with (repeatable)");
  add_output_options(status);
  status->callback([] {
    const auto spec = sweep::load_sweep(status_file);
    std::vector<std::string> extra = status_sets;
    for (const auto& o : output_overrides()) extra.push_back(o);
    const auto runs = sweep::expand(spec, extra);
    std::printf("%s", sweep::format_status(spec, sweep::sweep_status(runs)).c_str());
  });

  cmd->callback([status] {
    if (status->parsed()) return;
    if (file.empty()) throw ConfigError("dmgn sweep: give a sweep file (e.g. ablations/table1_small.toml)");
    const auto spec = sweep::load_sweep(file);
    sweep::SweepOptions o;
    o.workers = workers;
    o.threads = threads;
    o.retry_failed = retry_failed;
    o.dry_run = dry_run;
    o.log_dir = log_dir;
    o.extra_sets = sets;
    for (const auto& s : output_overrides()) o.extra_sets.push_back(s);
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
