#pragma once
// Tasks (registry kind "task", config keys task.name and datasets.*.task): the degradations a
// run restores. Each is registered by the file that synthesises it (data/synth_*.cpp), so a new
// degradation is a new synthesis plus its registration; a task's metric convention is the
// preset registered as its default (metrics/spec.h register_preset).
#include <string>
#include <vector>

#include "core/registry.h"

namespace dmgn {

struct TaskInfo {
  std::string description;
  // Whether `dmgn report systems` gives the task a column (false: a task whose benchmark no
  // system in the registry reports, e.g. super-resolution).
  bool systems_column = true;
};

using TaskRegistry = Registry<TaskInfo>;
TaskRegistry& tasks();

// Registers `name` (re-registering replaces it).
void register_task(const std::string& name, const std::string& description, bool systems_column = true);
// The registered tasks in registration order.
std::vector<std::string> task_names();
bool is_task(const std::string& name);

}  // namespace dmgn
