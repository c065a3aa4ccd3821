#pragma once
// A model with one path per task (MBN's input/output branch pairs): forward() takes the path
// of the task it was last routed to. Evaluation routes every sample by its task
// (data::Sample::task) and training recipes route every batch, so one checkpoint is scored on
// each task's data through that task's branches. A model implements this beside Model.
#include <string>
#include <vector>

namespace dmgn::models {

class TaskRouted {
 public:
  virtual ~TaskRouted() = default;
  // The tasks it has a path for.
  virtual std::vector<std::string> routed_tasks() const = 0;
  // Takes `task`'s path from now on; ConfigError / DataError naming the task and the known ones
  // when it has none. A model whose single path takes any task (R-MBN's recurrent chain)
  // accepts every task.
  virtual void route(const std::string& task) = 0;
  virtual std::string routed() const = 0;
  // True when every task takes the same computation (R-MBN's recurrent chain: the task only
  // names the batch), so that one task's path stands for all of them.
  virtual bool one_path() const { return false; }
};

}  // namespace dmgn::models
