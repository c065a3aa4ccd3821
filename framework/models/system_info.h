#pragma once
// What tables call a model's runs (registry kind "system", keyed by model.name): its display
// names in table order (MBN registers "MBN" and "R-MBN"), which one a configuration is, and the
// tasks a display-named system cannot run and why (`dmgn report systems`, train/systems_eval.h).
// Registered by each system's folder (framework/systems/<name>/register.cpp).
#include <functional>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/registry.h"

namespace dmgn::models {

struct SystemInfo {
  std::vector<std::string> names;                        // display names, table order; not empty
  std::function<std::string(const Config&)> name_of;     // default: names[0]
  // "" when the display-named system runs on the task, else "cannot run: ..." (default: "").
  std::function<std::string(const std::string& name, const std::string& task)> cannot_run;
  // --set overrides that shrink a configuration to test size (channel counts, iterations) while
  // keeping every input of its rules (levels, dilations, VGG taps, depths), so that checks over
  // every registered model (tests/test_input_requirements.cpp) run in seconds; empty: its own size.
  std::function<std::vector<std::string>(const Config&)> small;
  // A method with nothing to learn (the dark channel prior): `dmgn train` evaluates it as built
  // (a run of 0 steps with a weightless checkpoint, so the store, tables and `report systems`
  // treat it as any run), `dmgn eval --config` scores it with no checkpoint, and no recipe,
  // optimizer or training data is opened.
  bool training_free = false;
};

void register_system_info(const std::string& model_name, SystemInfo info);
// Every display name, in registration order of the models, then of their names.
std::vector<std::string> system_names();
// The display name of a configuration ("" for a model that registered none).
std::string system_name(const Config& cfg);
// The system's small() overrides for a configuration (empty when it registered none).
std::vector<std::string> system_small_overrides(const Config& cfg);
// Whether config's model registered itself training-free (SystemInfo::training_free).
bool training_free(const Config& cfg);
// Why display name `name` cannot run `task` ("" when it can, or when `name` is unknown).
std::string system_cannot_run(const std::string& name, const std::string& task);

}  // namespace dmgn::models
