#include "core/tasks.h"

namespace dmgn {

TaskRegistry& tasks() {
  static TaskRegistry r("task");
  return r;
}

void register_task(const std::string& name, const std::string& description, bool systems_column) {
  const TaskInfo info{description, systems_column};
  tasks().add(name, description, [info] { return info; });
}

std::vector<std::string> task_names() { return tasks().names_in_order(); }

bool is_task(const std::string& name) { return tasks().contains(name); }

}  // namespace dmgn
