#pragma once
// Datasets by name: the entry point the trainer, `dmgn eval` and `dmgn data check` use.
//
// open_dataset(full, name, split):
//   - a name with a [datasets.<name>] table in the config is a benchmark of real pairs: its
//     `adapter` (registry "adapter") gives the folder layouts it knows; `layout` picks one by
//     name or "auto" takes the first that fits the root; root (held-out / test split) or
//     train_root (train split) is listed (data/paired.h) and read by a PairedDataset;
//   - any other name is a registry dataset ("builtin"), made by its factory;
//   - "<registry dataset>/<part>" is one part of a dataset made of parts (Dataset::parts, e.g.
//     "multitask/blur"), so a part can be evaluated, checked or cross-evaluated alone.
// Roots: "${VAR}" expands to the environment variable VAR; DMGN_DATA defaults to "datasets"
//   (so `DMGN_DATA=/data dmgn ...` points every predefined benchmark at /data/<Name>).
//   Relative roots are taken from the working directory.
// only = [...] keeps the samples whose id (input path relative to the root), input stem or key
//   (the pairing rule's first group: "41" for O-HAZE's 41_outdoor_hazy.jpg, "1400" for the ten
//   SOTS images of clear image 1400) is listed; a listed name that matches nothing is an error.
// Bad input, data.on_bad_sample:
//   "fail" — an input without ground truth, or whose input or ground truth is a broken link
//            (data/paired.h), stops here with a DataError naming the file (and how many more
//            there are); a sample that cannot be read stops training or evaluation with its
//            file named;
//   "skip" — such inputs are left out (each named in a warning, counted in the provenance
//            "unpaired_files" and "bad_links"); unreadable samples are skipped where they are
//            read (the loader substitutes the next good sample; evaluation leaves them out), and
//            counted.
// Ground truths that no input uses are only reported (warning, `dmgn data check`).
#include <memory>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/registry.h"
#include "data/dataset.h"
#include "data/paired.h"

namespace dmgn::data {

// A [datasets.<name>] entry, parsed once from its table (core/core.schema.toml documents each
// key).
struct BenchmarkEntry {
  std::string name;      // <name>
  std::string adapter;   // registry "adapter"
  std::string task;      // "" = the run's task.name
  std::string root, train_root;  // as written ("${VAR}" not yet expanded)
  std::string layout;    // "auto" or one of the adapter's layouts
  std::vector<std::string> only;
  // The "paired" adapter's rule.
  std::string input_dir, target_dir, input_pattern, target_name;

  // ConfigError when the config has no [datasets.<name>] table.
  static BenchmarkEntry from_config(const Config& full, const std::string& name);
  // The folder a split reads (root / train_root, variables expanded); ConfigError when the
  // train split has no train_root.
  std::filesystem::path split_root(Split split) const;
};

// Registry "adapter": factory(the [datasets.<name>] entry) -> the layouts, most common first.
using AdapterRegistry = Registry<std::vector<PairRule>, const BenchmarkEntry&>;
AdapterRegistry& adapters();

DatasetPtr open_dataset(const Config& full, const std::string& name, Split split);

// True when `name` is a [datasets.<name>] benchmark of the config.
bool is_benchmark(const Config& full, const std::string& name);
// Every name of [datasets] (predefined and user-defined), sorted.
std::vector<std::string> benchmark_names(const Config& full);
// The folder a benchmark's split reads (root / train_root, variables expanded); ConfigError
// when the train split has no train_root.
std::filesystem::path benchmark_root(const Config& full, const std::string& name, Split split);
// "${VAR}" -> getenv(VAR) ("datasets" for an unset DMGN_DATA; ConfigError for other unset
// variables, naming `key`).
std::string expand_path(const std::string& value, const std::string& key);
// The task ("reflection" | "rain" | "haze") a dataset's images are for: the entry's `task`,
// else the config's task.name.
std::string dataset_task(const Config& full, const std::string& name);
// data.on_bad_sample: "fail" | "skip" (ConfigError otherwise).
bool skip_bad_samples(const Config& full);

void register_adapters();

}  // namespace dmgn::data
