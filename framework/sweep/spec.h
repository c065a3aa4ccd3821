#pragma once
// A sweep file (ablations/*.toml) and its expansion into runs. The format:
//
//   [sweep]
//   name = "table1_small"            # run.sweep tag (default: the file's stem)
//   config = "../experiments/x.toml" # config of variants that name none
//   seeds = [0, 1, 2]                # every run once per seed (default: the config's run.seed)
//   set = ["train.max_steps=900"]    # overrides for every run
//   layers = ["../experiments/presets/paper.toml"]  # files merged over every variant's config
//   nproc = 1                        # data-parallel workers per run (dmgn launch)
//
//   [[variants]]                     # a variant list (Table I) ...
//   name = "RDMC"                    # run.variant (default: the config's)
//   config = "../experiments/table1/rdmc.toml"
//   set = []
//
//   [[axes]]                         # ... and/or a grid (Fig. 6): the product of all axes
//   name = "alpha_p"
//   keys = ["loss.terms.p_r.weight", "loss.terms.p_c.weight"]
//   scale = [1.0, 0.5]               # key i gets value * scale[i] (default all 1)
//   values = [0.0, 0.01, 0.1, 1.0]
//
// Runs = variants x grid points x seeds, in that nesting order. A grid point's variant label
// is "<variant> alpha_p=0.1 alpha_adv=0.01" (without the variant part when the variant has
// no name). Paths are relative to the sweep file. Every expanded config is loaded and
// validated up front, so a bad key or file is an error before anything runs; errors name the
// sweep file and the key (ConfigError).
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "core/config.h"

namespace dmgn::sweep {

struct Axis {
  std::string name;
  std::vector<std::string> keys;
  std::vector<double> scale;
  std::vector<double> values;
};

struct Variant {
  std::string name;
  std::filesystem::path config;
  std::vector<std::string> sets;
};

struct SweepSpec {
  std::filesystem::path file;
  std::string name;
  std::filesystem::path config;  // default config
  std::vector<int64_t> seeds;    // empty: the config's own run.seed
  std::vector<std::string> sets;
  std::vector<std::filesystem::path> layers;  // merged over each variant's config, in order
  int nproc = 1;
  std::vector<Variant> variants;  // at least one (an unnamed one when the file lists none)
  std::vector<Axis> axes;
};

// One expanded run: `dmgn train config --set ...` (sets in application order). With layers,
// the worker's config is a generated file `extends = [config, layers...]` (config_text()).
struct SweepRun {
  int index = 0;  // 1-based position in the expansion
  std::filesystem::path config;
  std::vector<std::filesystem::path> layers;
  std::vector<std::string> sets;
  std::string variant;                 // run.variant of the expanded config
  std::map<std::string, double> point;  // axis name -> value (empty without axes)
  int64_t seed = 0;
  std::string hash;  // the expanded config's hash (the run's identity in the store)
  std::string store;  // its runtime.store

  std::string label() const;  // "R-RDMC seed 1"
  // The generated config text (`extends = [...]` with absolute paths); empty without layers.
  std::string config_text() const;
};

SweepSpec load_sweep(const std::filesystem::path& file);

// Expands and validates every run. `extra_sets` (e.g. runtime.store from the command line)
// are appended to every run's overrides.
std::vector<SweepRun> expand(const SweepSpec& spec, const std::vector<std::string>& extra_sets = {});

// Loads a run's config exactly as its worker will.
Config load_run_config(const SweepRun& run);

}  // namespace dmgn::sweep
