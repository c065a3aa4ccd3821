#pragma once
// Systems side by side on one test set (`dmgn report cross-system`): each run's latest
// checkpoint evaluated on the SAME dataset (opened once from one run's config, so a synthetic
// test set holds the same inputs for every system) under each named metric convention, by
// default each run's own convention for that dataset (train/evaluate.h: metric_convention). An
// evaluation already in the store of the same checkpoint, dataset, convention and data (its
// provenance matches the dataset as it opens now, with as many images) is reused, whoever made
// it (`dmgn eval`, the run's own test, an earlier table); a missing one is computed and logged
// with origin "cross-system" (no metric rows: the run's own test numbers stay what training
// logged).
#include <string>
#include <vector>

#include "store/run_store.h"

namespace dmgn::train {

struct CrossEvalOptions {
  std::vector<int64_t> runs;          // completed runs of the store
  std::string dataset;                // "" = the data source run's first data.test
  int64_t data_from = 0;              // the run whose config opens the dataset (0 = runs[0])
  std::vector<std::string> presets;   // metric conventions (metrics/spec.h presets); empty = own
  std::string overlay;                // a config file over the data source's config (--config)
  std::vector<std::string> sets;      // overrides on it (--set)
  int64_t max_samples = 0;            // 0 = all
  bool evaluate_missing = true;       // false: refuse instead of computing
};

struct CrossEvalResult {
  std::string dataset, data_source;   // data_source: "run N (config <hash>)"
  // evaluation[r][p]: run r's evaluation under preset p.
  std::vector<std::vector<store::Evaluation>> evaluation;
  std::vector<store::RunRow> runs;
  std::vector<int64_t> steps;         // the checkpoint step per run
  std::vector<std::string> presets;   // the conventions scored (the named ones, else each run's own)
  std::vector<std::string> why;       // why each own convention (metric_convention), when not named
  int64_t computed = 0, reused = 0;
};

CrossEvalResult cross_evaluate(store::RunStore& store, const CrossEvalOptions& options);

}  // namespace dmgn::train
