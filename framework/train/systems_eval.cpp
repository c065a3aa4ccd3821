#include "train/systems_eval.h"

#include <fmt/format.h>

#include <algorithm>
#include <sstream>

#include "core/config.h"
#include "core/error.h"
#include "core/log.h"
#include "core/tasks.h"
#include "metrics/spec.h"
#include "models/system_info.h"
#include "train/cross_eval.h"

namespace dmgn::train {
namespace {

// The tasks with a column: every registered task that asks for one (core/tasks.h).
std::vector<std::string> column_tasks() {
  std::vector<std::string> out;
  for (const auto& t : task_names())
    if (tasks().make(t).systems_column) out.push_back(t);
  return out;
}

// "key=value" words of an evaluation's provenance.
std::string word(const std::string& provenance, const std::string& key) {
  std::istringstream in(provenance);
  for (std::string w; in >> w;)
    if (w.rfind(key + "=", 0) == 0) return w.substr(key.size() + 1);
  return "";
}

}  // namespace

std::string system_of(const std::string& config_text) {
  try {
    return models::system_name(Config::from_canonical(config_text));
  } catch (const Error&) {
  }
  return "";
}

std::string cannot_run(const std::string& system, const std::string& task) {
  return models::system_cannot_run(system, task);
}

SystemsTable systems_table(store::RunStore& store, const SystemsOptions& o) {
  SystemsTable t;
  t.systems = models::system_names();
  t.tasks = column_tasks();
  for (const auto& task : t.tasks) t.convention[task] = metrics::task_spec(task).name;
  store::RunFilter f;
  f.status = "completed";
  if (!o.experiment.empty()) f.experiment = o.experiment;
  if (!o.sweep.empty()) f.sweep = o.sweep;
  // The latest run per (system, task) with an end-of-training test on that task; within it,
  // the latest evaluation per dataset (runs come oldest first).
  struct Found {
    store::RunRow run;
    store::Evaluation eval;
  };
  std::map<std::pair<std::string, std::string>, Found> found, evaluated;
  const auto wanted = [&](const store::Evaluation& e) {
    return o.datasets.empty() || std::find(o.datasets.begin(), o.datasets.end(), e.dataset) != o.datasets.end();
  };
  for (const auto& run : store.runs(f)) {
    const std::string system = system_of(run.config_text);
    if (system.empty()) continue;
    for (const auto& e : store.evaluations(run.id)) {
      if (!wanted(e)) continue;
      std::string task = word(e.provenance, "task");
      if (task.empty()) task = run.task;
      if (std::find(t.tasks.begin(), t.tasks.end(), task) == t.tasks.end()) continue;
      if (e.origin == "train") {
        found[{system, task}] = {run, e};
        continue;
      }
      if (e.origin != "eval") continue;
      // The latest `dmgn eval`, preferring one under the column's convention.
      const auto held = evaluated.find({system, task});
      const bool under_convention = e.preset == t.convention[task];
      if (held == evaluated.end() || under_convention || held->second.eval.preset != t.convention[task])
        evaluated[{system, task}] = {run, e};
    }
  }
  for (auto& [key, v] : evaluated)
    if (!found.count(key)) found[key] = v;
  for (const auto& system : t.systems)
    for (const auto& task : t.tasks) {
      SystemsCell& cell = t.cells[{system, task}];
      cell.why = cannot_run(system, task);
      const auto it = found.find({system, task});
      if (it == found.end()) {
        if (cell.why.empty()) cell.why = "no run";
        continue;
      }
      cell.why.clear();  // a run exists (e.g. R-MBN scored on reflection data): show it
      cell.run = it->second.run;
      const auto& e = it->second.eval;
      cell.by_eval = e.origin != "train";
      const std::string conv = t.convention[task];
      if (e.preset == conv) {
        cell.eval = e;
        continue;
      }
      cell.logged_as = e.preset;
      CrossEvalOptions co;
      co.runs = {cell.run->id};
      co.dataset = e.dataset;
      co.data_from = cell.run->id;
      co.presets = {conv};
      co.overlay = o.overlay;
      co.sets = o.sets;
      co.max_samples = o.max_samples;
      co.evaluate_missing = o.evaluate_missing;
      try {
        const auto r = cross_evaluate(store, co);
        cell.eval = r.evaluation.at(0).at(0);
        cell.rescored = true;
        t.computed += r.computed;
        t.reused += r.reused;
      } catch (const Error& err) {
        // No checkpoint or no stored re-scoring: keep the run's own number, marked.
        log::warn(fmt::format("systems: {} on {}: run {} not re-scored under {}: {}", system, task, cell.run->id, conv,
                              err.what()));
        cell.eval = e;
      }
    }
  return t;
}

}  // namespace dmgn::train
