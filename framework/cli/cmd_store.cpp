// dmgn runs | report
#include <fmt/format.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "cli/commands.h"
#include "core/error.h"
#include "report/format.h"
#include "report/table1.h"
#include "store/format_runs.h"
#include "store/run_store.h"

namespace dmgn::cli {

void add_store(CLI::App& app) {
  {
    auto* cmd = app.add_subcommand("runs", "List the runs in the store");
    static std::string store_file = "results/runs.sqlite", experiment, variant, status;
    cmd->add_option("--store", store_file, "Run store (SQLite)");
    cmd->add_option("--experiment", experiment, "Only this experiment");
    cmd->add_option("--variant", variant, "Only this variant");
    cmd->add_option("--status", status, "Only this status (running, completed, failed, interrupted)");
    cmd->callback([] {
      if (!std::filesystem::exists(store_file))
        throw IoError(fmt::format("run store '{}' does not exist (train something first)", store_file));
      store::RunStore store(store_file);
      store::RunFilter f;
      f.experiment = experiment;
      f.variant = variant;
      f.status = status;
      std::printf("%s", store::format_runs(store.runs(f), store).c_str());
    });
  }
  {
    auto* cmd = app.add_subcommand("report", "Regenerate a paper table from the run store");
    cmd->require_subcommand(1);
    auto* t1 = cmd->add_subcommand("table1", "Table I: ablations of DMGN (paper numbers beside ours)");
    static std::string store_file = "results/runs.sqlite", format = "markdown", out, paper;
    t1->add_option("--store", store_file, "Run store (SQLite)");
    t1->add_option("--format", format, "markdown | csv | latex")
        ->check(CLI::IsMember({"markdown", "md", "csv", "latex", "tex"}));
    t1->add_option("--out", out, "Write to this file instead of stdout");
    t1->add_option("--paper", paper, "Paper numbers CSV (default: reports/paper/table1.csv)");
    t1->callback([] {
      const std::filesystem::path paper_csv =
          paper.empty() ? std::filesystem::path(DMGN_SOURCE_DIR) / "reports" / "paper" / "table1.csv"
                        : std::filesystem::path(paper);
      if (!std::filesystem::exists(store_file))
        throw IoError(fmt::format("run store '{}' does not exist (train something first)", store_file));
      store::RunStore store(store_file);
      const std::string text = report::render_table1(store, paper_csv, report::parse_format(format));
      if (out.empty()) {
        std::printf("%s", text.c_str());
      } else {
        std::ofstream(out) << text;
        std::printf("wrote %s\n", out.c_str());
      }
    });
  }
}

}  // namespace dmgn::cli
