#include "train/cross_eval.h"

#include <fmt/format.h>

#include <algorithm>

#include "core/error.h"
#include "core/log.h"
#include "data/dataset.h"
#include "metrics/spec.h"
#include "models/model.h"
#include "train/checkpoint.h"
#include "train/evaluate.h"
#include "train/trainer.h"

namespace dmgn::train {

namespace {

namespace fs = std::filesystem;

bool same_checkpoint(const std::string& stored, const fs::path& ckpt) {
  std::error_code ec;
  const auto a = fs::weakly_canonical(stored, ec);
  const auto b = fs::weakly_canonical(ckpt, ec);
  return a == b;
}

fs::path final_checkpoint(const store::RunRow& run) {
  const auto ckpt = latest_checkpoint(fs::path(run.run_dir) / "checkpoints");
  if (!ckpt) throw DataError(fmt::format("run {} has no checkpoint under {}/checkpoints", run.id, run.run_dir));
  return fs::absolute(*ckpt);
}

}  // namespace

CrossEvalResult cross_evaluate(store::RunStore& store, const CrossEvalOptions& o) {
  if (o.runs.empty()) throw ConfigError("cross-system: no runs to compare");
  CrossEvalResult out;
  for (const auto id : o.runs) {
    const auto run = store.run(id);
    if (!run) throw DataError(fmt::format("run {} is not in {}", id, store.path().string()));
    if (run->status != "completed")
      throw DataError(fmt::format("run {} is {}, not completed: finish it (dmgn train --resume) first", id, run->status));
    out.runs.push_back(*run);
  }
  // The data source: one config opens the dataset for every system.
  const int64_t source_id = o.data_from ? o.data_from : o.runs[0];
  const auto source = store.run(source_id);
  if (!source) throw DataError(fmt::format("run {} (--data-from) is not in {}", source_id, store.path().string()));
  const Config source_cfg = Config::from_canonical(source->config_text);
  out.dataset = o.dataset.empty() ? source_cfg.get_strings("data.test").at(0) : o.dataset;
  out.data_source = fmt::format("run {} (config {})", source_id, source->config_hash.substr(0, 12));
  const std::string marker = fmt::format("cross_data={}", source->config_hash.substr(0, 12));
  // The source config (with --config / --set over it), with the largest size multiple among the
  // systems' models: a test set is opened once and every model pads its images itself. Its
  // listing decides which stored evaluations are of the same data.
  Config data_cfg = source_cfg;
  if (!o.overlay.empty()) data_cfg.overlay(o.overlay);
  for (const auto& s : o.sets) data_cfg.set(s);
  const data::DatasetPtr dataset = open_for_model(data_cfg, out.dataset, data::Split::heldout);
  const int64_t expected = o.max_samples > 0 ? std::min<int64_t>(o.max_samples, static_cast<int64_t>(dataset->size()))
                                             : static_cast<int64_t>(dataset->size());

  // Unless named: each run's own convention for this dataset (evaluate.h, the one rule every
  // command applies), each once, and every run scored under each.
  out.presets = o.presets;
  if (out.presets.empty())
    for (const auto& run : out.runs) {
      const auto c = metric_convention(Config::from_canonical(run.config_text), *dataset);
      if (c.spec.name == "custom") continue;
      if (std::find(out.presets.begin(), out.presets.end(), c.spec.name) == out.presets.end()) {
        out.presets.push_back(c.spec.name);
        out.why.push_back(fmt::format("run {}: {}", run.id, c.why));
      }
    }
  if (out.presets.empty()) throw ConfigError("cross-system: no metric convention (name one with --metric)");
  for (const auto& p : out.presets) metrics::preset(p);  // unknown names fail here, naming the known ones

  for (const auto& run : out.runs) {
    const auto ckpt = final_checkpoint(run);
    const auto meta = read_checkpoint_meta(ckpt);
    out.steps.push_back(meta.step);
    std::vector<store::Evaluation> row;
    models::ModelPtr model;
    const auto stored = store.evaluations(run.id);
    const Config cfg = Config::from_canonical(meta.config_text);
    for (const auto& name : out.presets) {
      const auto spec = metrics::preset(name);
      // Any evaluation of this checkpoint on the same data under this convention: by `dmgn eval`,
      // a run's own test or an earlier cross-system table.
      std::optional<store::Evaluation> found;
      for (const auto& e : stored)
        if (same_checkpoint(e.checkpoint, ckpt) && e.dataset == out.dataset && e.preset == spec.name &&
            same_data(e, *dataset) && e.samples + e.skipped == expected &&
            // A benchmark of files is named by its provenance (adapter, root, task); a dataset made
            // from a config (synthesis) only by that config.
            (dataset->provenance().count("adapter") || e.provenance.find(marker) != std::string::npos ||
             e.config_hash == source->config_hash))
          found = e;
      if (found) {
        ++out.reused;
        row.push_back(*found);
        continue;
      }
      if (!o.evaluate_missing)
        throw DataError(fmt::format("run {} has no {} evaluation of '{}' in the store", run.id, name, out.dataset));
      if (!model) {
        model = models::build_model(cfg);
        load_checkpoint(ckpt, CheckpointParts::weights(model.get()));
        model->to(runtime_device(cfg));
      }
      EvalOptions eo;
      eo.max_samples = o.max_samples;
      eo.device = runtime_device(cfg);
      const auto r = evaluate(*model, *dataset, spec, eo);
      auto e = evaluation_record(r, *dataset);
      e.run_id = run.id;
      e.checkpoint = ckpt.string();
      e.step = meta.step;
      e.config_hash = cfg.hash();
      e.provenance += " " + marker + fmt::format(" data_from_run={}", source_id);
      e.origin = "cross-system";
      e.id = store.log_evaluation(e, image_records(r));
      log::info(fmt::format("run {}: evaluated {} images of '{}' under {} (evaluation {})", run.id, r.samples,
                            out.dataset, spec.name, e.id));
      ++out.computed;
      row.push_back(e);
    }
    out.evaluation.push_back(std::move(row));
  }
  return out;
}

}  // namespace dmgn::train
