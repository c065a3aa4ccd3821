// dmgn runs, dmgn reports, dmgn evals, dmgn gather
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
    static std::string experiment, variant, status;
    add_output_options(cmd);
    cmd->add_option("--experiment", experiment, "Only this experiment");
    cmd->add_option("--variant", variant, "Only this variant");
    cmd->add_option("--status", status,
                    "Only this status: running, died (a 'running' run whose process is gone), completed, failed, "
                    "interrupted")
        ->check(CLI::IsMember({"running", "died", "completed", "failed", "interrupted"}));
    cmd->callback([] {
      const store::RunStore store = open_existing_store(store_path());
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
    static std::string report;
    static int64_t id = 0;
    static bool provenance = false;
    add_output_options(cmd);
    cmd->add_option("--report", report, "Only this report (e.g. table1)");
    cmd->add_option("--id", id, "Only the report with this id");
    cmd->add_flag("--provenance", provenance, "Also print each report's provenance (runs per row, footer notes)");
    cmd->callback([] {
      const store::RunStore store = open_existing_store(store_path());
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
  {
    auto* cmd = app.add_subcommand(
        "evals", "List evaluations: `dmgn eval` results and cross-system re-scorings (with --origin train, also the "
                 "runs' own end-of-training tests), each with its convention");
    static int64_t run = -1, id = 0;
    static std::string dataset, convention, origin;
    static bool images = false;
    add_output_options(cmd);
    cmd->add_option("--run", run, "Only evaluations of this run's checkpoints (0 = of no run: imported weights)");
    cmd->add_option("--dataset", dataset, "Only this dataset");
    cmd->add_option("--convention", convention, "Only this metric convention (e.g. real20, rain100)");
    cmd->add_option("--origin", origin, "Only this origin: eval, cross-system, train, or all (default: eval and "
                                        "cross-system)")
        ->check(CLI::IsMember({"eval", "cross-system", "train", "all"}));
    cmd->add_option("--id", id, "Only the evaluation with this id (with --images: its per-image scores)");
    cmd->add_flag("--images", images, "Also print each evaluation's per-image scores");
    cmd->callback([] {
      const store::RunStore store = open_existing_store(store_path());
      store::EvalFilter f;
      f.run_id = run;
      f.dataset = dataset;
      f.preset = convention;
      f.origin = origin == "all" ? "" : origin;
      std::printf("%5s %5s %7s %-14s %-14s %-12s %6s | %-16s | %-16s | %s\n", "id", "run", "step", "dataset",
                  "convention", "origin", "images", "PSNR / SSIM", "input PSNR/SSIM", "checkpoint");
      int shown = 0;
      for (const auto& e : store.evaluations(f)) {
        if (origin.empty() && e.origin == "train") continue;
        if (id > 0 && e.id != id) continue;
        ++shown;
        std::printf("%5lld %5s %7lld %-14s %-14s %-12s %6lld | %6.2f / %7.4f | %6.2f / %7.4f | %s\n",
                    static_cast<long long>(e.id), e.run_id ? std::to_string(e.run_id).c_str() : "-",
                    static_cast<long long>(e.step), e.dataset.c_str(), e.preset.c_str(), e.origin.c_str(),
                    static_cast<long long>(e.samples), e.psnr, e.ssim, e.psnr_input, e.ssim_input,
                    e.checkpoint.c_str());
        if (images)
          for (const auto& im : store.eval_images(e.id))
            std::printf("        %-40s %6.2f / %7.4f | %6.2f / %7.4f %s\n", im.image.c_str(), im.psnr, im.ssim,
                        im.psnr_input, im.ssim_input, im.output.c_str());
      }
      if (shown == 0) std::printf("no evaluations match\n");
    });
  }
  {
    auto* cmd = app.add_subcommand(
        "gather", "Copy the completed runs of other store files (one per run or per machine; a folder: every "
                  "runs.sqlite below it) into the store, once each by run identity");
    static std::vector<std::string> sources;
    add_output_options(cmd);
    cmd->add_option("sources", sources, "Store files, or folders searched for runs.sqlite files")->required();
    cmd->callback([] {
      std::vector<std::filesystem::path> files;
      for (const auto& s : sources) {
        std::error_code ec;
        if (std::filesystem::is_directory(s, ec)) {
          std::vector<std::filesystem::path> found;
          for (auto it = std::filesystem::recursive_directory_iterator(s, ec);
               !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec))
            if (it->is_regular_file() && it->path().filename() == "runs.sqlite") found.push_back(it->path());
          if (ec) throw IoError(fmt::format("cannot read the folder '{}': {}", s, ec.message()));
          std::sort(found.begin(), found.end());
          if (found.empty()) std::printf("%s: no runs.sqlite below it\n", s.c_str());
          files.insert(files.end(), found.begin(), found.end());
        } else if (std::filesystem::is_regular_file(s, ec)) {
          files.emplace_back(s);
        } else {
          throw IoError(fmt::format("gather: '{}' is neither a store file nor a folder", s));
        }
      }
      store::RunStore store(store_path());
      int gathered = 0, already = 0, unfinished = 0;
      for (const auto& f : files) {
        if (std::filesystem::weakly_canonical(f) == std::filesystem::weakly_canonical(store.path())) continue;
        const auto r = store.gather(f);
        gathered += static_cast<int>(r.gathered.size());
        already += r.already;
        unfinished += r.unfinished;
        for (const auto id : r.gathered)
          std::printf("gathered run %lld from %s\n", static_cast<long long>(id), f.string().c_str());
      }
      std::printf("%s: %d run(s) gathered now, %d already here, %d not completed (left in their stores) from %zu "
                  "store file(s)\n",
                  store.path().string().c_str(), gathered, already, unfinished, files.size());
    });
  }
}

}  // namespace dmgn::cli
