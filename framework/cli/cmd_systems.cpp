// dmgn report systems: every registry system against every task, from the store, each column
// scored under its task's convention (train/systems_eval.h).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <cstdio>
#include <fstream>

#include "cli/commands.h"
#include "core/error.h"
#include "metrics/spec.h"
#include "report/format.h"
#include "report/render_table.h"
#include "store/run_store.h"
#include "train/systems_eval.h"

namespace dmgn::cli {
namespace {

report::Grid systems_grid(const train::SystemsTable& t, const std::string& store_file) {
  report::Grid g;
  g.id = "systems";
  g.title = "Every system against every task (PSNR / SSIM, each column under its task's convention)";
  g.header = {"System"};
  for (const auto& task : t.tasks) g.header.push_back(fmt::format("{} ({})", task, t.convention.at(task)));
  // The identity row: the input's score on each column's data (from the first cell with a run).
  std::vector<std::string> identity = {"Input (identity)"};
  for (const auto& task : t.tasks) {
    std::string text = "–";
    std::vector<double> seen;
    for (const auto& system : t.systems) {
      const auto& c = t.cells.at({system, task});
      if (!c.eval) continue;
      if (text == "–") text = fmt::format("{:.2f} / {:.4f}", c.eval->psnr_input, c.eval->ssim_input);
      seen.push_back(c.eval->psnr_input);
    }
    for (double v : seen)
      if (std::abs(v - seen.front()) > 1e-9) {
        text += " *";  // the systems of this column were tested on different data
        break;
      }
    identity.push_back(text);
  }
  g.rows.push_back(identity);
  int footnote = 0;
  for (const auto& system : t.systems) {
    std::vector<std::string> row = {system};
    for (const auto& task : t.tasks) {
      const auto& c = t.cells.at({system, task});
      if (!c.eval) {
        row.push_back(c.why.rfind("cannot run", 0) == 0 ? "n/a" : "–");
        continue;
      }
      std::string mark;
      if (!c.logged_as.empty() && !c.rescored) mark = fmt::format(" [{}]", ++footnote);
      row.push_back(fmt::format("{:.2f} / {:.4f}{}", c.eval->psnr, c.eval->ssim, mark));
      if (c.by_eval) mark += "†";
      std::string note = fmt::format("{} x {}: run {} ({} / {}, seed {}), step {}, {} images of '{}', evaluation {}",
                                     system, task, c.run->id, c.run->experiment, c.run->variant, c.run->seed,
                                     c.eval->step, c.eval->samples, c.eval->dataset, c.eval->id);
      if (c.by_eval)
        note += fmt::format("; † by `dmgn eval` of a run trained for {} (no {} run of {} in the store)",
                            c.run->task.empty() ? "?" : c.run->task, task, system);
      if (c.rescored) note += fmt::format("; logged under {}, re-scored under {} from its checkpoint", c.logged_as,
                                          t.convention.at(task));
      if (!mark.empty())
        note = fmt::format("[{}] {}; NOT re-scored (no checkpoint or --no-eval): this number is under {}", footnote,
                           note, c.logged_as);
      g.notes.push_back(note);
    }
    g.rows.push_back(row);
  }
  for (const auto& system : t.systems)
    for (const auto& task : t.tasks) {
      const auto& c = t.cells.at({system, task});
      if (!c.eval && c.why.rfind("cannot run", 0) == 0) g.notes.push_back(fmt::format("n/a {} x {}: {}", system, task, c.why));
    }
  g.notes.push_back("– = no completed run of that system tested on that task in " + store_file +
                    "; * = the systems of that column were tested on different data (identity scores differ).");
  std::vector<std::string> conventions;
  for (const auto& task : t.tasks) conventions.push_back(metrics::preset(t.convention.at(task)).describe());
  g.notes.push_back(fmt::format("Conventions: {}", fmt::join(conventions, " | ")));
  g.notes.push_back(fmt::format("{} evaluation(s) computed now, {} reused from the store.", t.computed, t.reused));
  return g;
}

}  // namespace

void add_systems(CLI::App* report) {
  auto* c = report->add_subcommand(
      "systems", "Every registry system (DMGN, Location-aware SIRR, Physics-GAN, MBN, R-MBN) against every task "
                 "(reflection, rain, haze, blur, JPEG, mixed), each column under its task's convention");
  struct Args {
    std::string format = "markdown", out, experiment, sweep, config;
    std::vector<std::string> datasets, sets;
    int64_t max_samples = 0;
    bool no_eval = false;
  };
  auto a = std::make_shared<Args>();
  add_output_options(c);
  c->add_option("--dataset", a->datasets, "Only evaluations on these datasets (repeatable; default: any)");
  c->add_option("--config", a->config, "A TOML file over a run's config when a dataset must be opened to re-score")
      ->check(CLI::ExistingFile);
  c->add_option("--set", a->sets, "Override key.path=value on that config (repeatable)");
  c->add_option("--experiment", a->experiment, "Only runs of this experiment");
  c->add_option("--sweep", a->sweep, "Only runs of this sweep");
  c->add_option("--max-samples", a->max_samples, "Re-score at most this many images (0 = all)");
  c->add_flag("--no-eval", a->no_eval, "Do not re-score: show the runs' own numbers, marked, where they differ");
  c->add_option("--format", a->format, "markdown | csv | latex")
      ->check(CLI::IsMember({"markdown", "md", "csv", "latex", "tex"}));
  c->add_option("--out", a->out, "Write to this file instead of stdout");
  c->callback([a] {
    const std::string file = store_path();
    store::RunStore store(file);
    train::SystemsOptions o;
    o.datasets = a->datasets;
    o.overlay = a->config;
    o.sets = a->sets;
    o.experiment = a->experiment;
    o.sweep = a->sweep;
    o.max_samples = a->max_samples;
    o.evaluate_missing = !a->no_eval;
    const auto table = train::systems_table(store, o);
    const std::string text = report::render_grid(systems_grid(table, file), report::parse_format(a->format));
    emit_report(text, a->out);
  });
}

}  // namespace dmgn::cli
