// dmgn runs
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "cli/commands.h"
#include "core/error.h"
#include "store/format_runs.h"
#include "store/liveness.h"
#include "store/run_store.h"

namespace dmgn::cli {

void add_store(CLI::App& app) {
  {
    auto* cmd = app.add_subcommand("runs", "List the runs in the store");
    static std::string store_file = "results/runs.sqlite", experiment, variant, status;
    cmd->add_option("--store", store_file, "Run store (SQLite)");
    cmd->add_option("--experiment", experiment, "Only this experiment");
    cmd->add_option("--variant", variant, "Only this variant");
    cmd->add_option("--status", status,
                    "Only this status: running, died (a 'running' run whose process is gone), completed, failed, "
                    "interrupted")
        ->check(CLI::IsMember({"running", "died", "completed", "failed", "interrupted"}));
    cmd->callback([] {
      const store::RunStore store = open_existing_store(store_file);
      store::RunFilter f;
      f.experiment = experiment;
      f.variant = variant;
      f.status = status == "died" ? "running" : status;
      auto runs = store.runs(f);
      if (!status.empty())  // running vs died is the lock's answer, not the row's
        runs.erase(std::remove_if(runs.begin(), runs.end(),
                                  [](const store::RunRow& r) { return store::live_status(r) != status; }),
                   runs.end());
      std::printf("%s", store::format_runs(runs, store).c_str());
    });
  }
}

}  // namespace dmgn::cli
