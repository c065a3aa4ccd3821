// dmgn report cross-system: systems of the registry side by side on one test set, each scored
// under each paper's metric convention (train/cross_eval.h does the evaluations).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>

#include "cli/commands.h"
#include "core/config.h"
#include "core/error.h"
#include "metrics/spec.h"
#include "report/format.h"
#include "report/render_table.h"
#include "store/run_store.h"
#include "train/cross_eval.h"

namespace dmgn::cli {

namespace {

// Which paper a convention is, for the header.
std::string convention_label(const std::string& preset) {
  std::string paper;
  try {
    paper = metrics::preset_entry(preset).paper;  // registered with the preset
  } catch (const Error&) {
  }
  return paper.empty() ? preset : fmt::format("{}: {}", preset, paper);
}

std::string model_of(const store::RunRow& run) {
  try {
    return Config::from_canonical(run.config_text).get_string("model.name");
  } catch (const Error&) {
    return "?";
  }
}

// Default: the latest completed reflection run of every model in the store.
std::vector<int64_t> latest_per_model(const store::RunStore& store) {
  store::RunFilter f;
  f.status = "completed";
  std::map<std::string, int64_t> latest;
  for (const auto& r : store.runs(f))
    if (r.task == "reflection" || r.task.empty()) latest[model_of(r)] = r.id;
  std::vector<int64_t> out;
  for (const auto& [model, id] : latest) out.push_back(id);
  return out;
}

report::Grid cross_grid(const train::CrossEvalResult& r) {
  const auto& presets = r.presets;
  report::Grid g;
  g.id = "cross_system";
  g.title = fmt::format("Systems side by side on '{}' (PSNR/SSIM under each paper's convention)", r.dataset);
  g.header = {"System", "Run", "Step"};
  for (const auto& p : presets) {
    g.header.push_back(fmt::format("PSNR ({})", convention_label(p)));
    g.header.push_back(fmt::format("SSIM ({})", convention_label(p)));
  }
  std::vector<std::string> identity = {"Input (identity)", "", ""};
  bool same_inputs = true;
  for (size_t p = 0; p < presets.size(); ++p) {
    const auto& e0 = r.evaluation[0][p];
    identity.push_back(fmt::format("{:.3f}", e0.psnr_input));
    identity.push_back(fmt::format("{:.4f}", e0.ssim_input));
    for (const auto& row : r.evaluation)
      same_inputs = same_inputs && row[p].psnr_input == e0.psnr_input && row[p].samples == e0.samples;
  }
  g.rows.push_back(identity);
  for (size_t i = 0; i < r.runs.size(); ++i) {
    const auto& run = r.runs[i];
    std::vector<std::string> cells = {
        fmt::format("{}{}", model_of(run), run.variant.empty() ? "" : " (" + run.variant + ")"),
        std::to_string(run.id), std::to_string(r.steps[i])};
    for (const auto& e : r.evaluation[i]) {
      cells.push_back(fmt::format("{:.3f}", e.psnr));
      cells.push_back(fmt::format("{:.4f}", e.ssim));
    }
    g.rows.push_back(cells);
  }
  g.notes.push_back(fmt::format("Test set: '{}', {} images, opened once from {} for every system.", r.dataset,
                                r.evaluation[0][0].samples, r.data_source));
  if (!same_inputs)
    g.notes.push_back("WARNING: the systems' identity scores differ: they were not scored on the same inputs.");
  for (const auto& p : presets) g.notes.push_back(metrics::preset(p).describe());
  for (const auto& w : r.why) g.notes.push_back("Convention of " + w + ".");
  for (size_t i = 0; i < r.runs.size(); ++i) {
    const auto& run = r.runs[i];
    const auto vgg = run.provenance.count("vgg_weights") ? run.provenance.at("vgg_weights") : "?";
    std::vector<std::string> ids;
    for (const auto& e : r.evaluation[i]) ids.push_back(std::to_string(e.id));
    g.notes.push_back(fmt::format("Run {}: {} / {}, seed {}, vgg_weights {}, evaluations {} ({}).", run.id,
                                  run.experiment, run.variant, run.seed, vgg, fmt::join(ids, ","),
                                  run.run_dir));
  }
  g.notes.push_back(fmt::format("{} evaluation(s) computed now, {} reused from the store.", r.computed, r.reused));
  return g;
}

}  // namespace

void add_cross_system(CLI::App* report) {
  auto* c = report->add_subcommand(
      "cross-system",
      "Registry systems (e.g. DMGN and Location-aware SIRR) side by side on one test set, each scored under each "
      "paper's metric convention");
  struct Args {
    std::string format = "markdown", out, dataset, config;
    std::vector<int64_t> runs;
    std::vector<std::string> metrics, sets;
    int64_t data_from = 0, max_samples = 0;
    bool no_eval = false;
  };
  auto a = std::make_shared<Args>();
  add_output_options(c);
  c->add_option("--run", a->runs, "Runs to compare (repeatable; default: the latest completed reflection run of "
                                  "every model in the store)");
  c->add_option("--dataset", a->dataset, "Test set (default: the first data.test of the data source run)");
  c->add_option("--config", a->config,
                 "A TOML file over the data source's config, e.g. [datasets.mine] declaring your own folders")
      ->check(CLI::ExistingFile);
  c->add_option("--set", a->sets, "Override key.path=value on the data source's config (repeatable)");
  c->add_option("--data-from", a->data_from,
                "The run whose config opens the test set for every system (default: the first run)");
  c->add_option("--metric", a->metrics,
                "Metric conventions (repeatable; default: each compared run's own convention for this dataset, "
                "as `dmgn eval` scores it: e.g. real20 and location_sirr, or sots and physics_gan)");
  c->add_option("--max-samples", a->max_samples, "Score at most this many images (0 = all)");
  c->add_flag("--no-eval", a->no_eval, "Only use evaluations already in the store");
  c->add_option("--format", a->format, "markdown | csv | latex")
      ->check(CLI::IsMember({"markdown", "md", "csv", "latex", "tex"}));
  c->add_option("--out", a->out, "Write to this file instead of stdout");
  c->callback([a] {
    const std::string file = store_path();
    store::RunStore store(file);
    train::CrossEvalOptions o;
    o.runs = a->runs.empty() ? latest_per_model(store) : a->runs;
    if (o.runs.empty()) throw DataError(fmt::format("{} has no completed reflection runs", file));
    o.dataset = a->dataset;
    o.data_from = a->data_from;
    o.presets = a->metrics;
    o.overlay = a->config;
    o.sets = a->sets;
    o.max_samples = a->max_samples;
    o.evaluate_missing = !a->no_eval;
    const auto result = train::cross_evaluate(store, o);
    const std::string text = report::render_grid(cross_grid(result), report::parse_format(a->format));
    emit_report(text, a->out);
  });
}

}  // namespace dmgn::cli
