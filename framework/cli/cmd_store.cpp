// dmgn runs, dmgn reports
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
  {
    auto* cmd = app.add_subcommand("reports", "List the reports recorded in the store (dmgn report tableN) with their "
                                              "paired verdicts");
    static std::string store_file = "results/runs.sqlite", report;
    static int64_t id = 0;
    static bool provenance = false;
    cmd->add_option("--store", store_file, "Run store (SQLite)");
    cmd->add_option("--report", report, "Only this report (e.g. table1)");
    cmd->add_option("--id", id, "Only the report with this id");
    cmd->add_flag("--provenance", provenance, "Also print each report's provenance (runs per row, footer notes)");
    cmd->callback([] {
      const store::RunStore store = open_existing_store(store_file);
      int shown = 0;
      for (const auto& r : store.reports(report)) {
        if (id > 0 && r.id != id) continue;
        ++shown;
        std::printf("report %lld  %s%s  %s  git %s  %zu run(s)\n", static_cast<long long>(r.id), r.report.c_str(),
                    r.sweep.empty() ? "" : (" --sweep " + r.sweep).c_str(), r.created_at.c_str(),
                    r.git_revision.c_str(), r.runs.size());
        for (const auto& v : r.verdicts) {
          if (v.verdict == "not computed") {
            std::printf("  %s %s: %s - %s: not computed (no per-image scores)\n", v.dataset.c_str(), v.metric.c_str(),
                        v.b.c_str(), v.a.c_str());
            continue;
          }
          std::printf("  %s %s: %s - %s = %+.4f [%+.4f, %+.4f] (%lld seeds x %lld images): %s\n", v.dataset.c_str(),
                      v.metric.c_str(), v.b.c_str(), v.a.c_str(), v.mean, v.lo, v.hi, static_cast<long long>(v.seeds),
                      static_cast<long long>(v.images), v.verdict.c_str());
        }
        if (provenance) std::printf("%s\n", r.provenance.c_str());
      }
      if (shown == 0) std::printf("no reports recorded%s\n", report.empty() ? "" : (" for " + report).c_str());
    });
  }
}

}  // namespace dmgn::cli
