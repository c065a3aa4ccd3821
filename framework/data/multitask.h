#pragma once
// The "multitask" dataset: several tasks' data side by side, for systems trained jointly on
// several degradations (MBN, Deng et al.: Sec. 4.1). Task i is the registry dataset
// data.multitask.source opened with its synthesis set to data.multitask.synths[i] and its crop
// to data.multitask.crops[i]; its samples are tagged with data.multitask.tasks[i].
//   Part i may also take its own overrides (data.multitask.overrides[i]: "key=value" assignments
//     separated by ";", e.g. 'synth.mixed.factors=["rain", "blur"]') and its own label
//     (data.multitask.labels[i]; default the task), so one task can have several parts (MBN's
//     Table 4: sixteen mixtures of degradations, all task "mixed").
//   Index space (get, `dmgn data check`): the parts' samples one after the other.
//   Scoring (parts()): one part per entry, named "<dataset>/<label>" ("multitask/blur"), each
//     scored under its own task's conventions; training validates and tests every part apart.
//   "multitask_test" is the same dataset read from [data.multitask_test], so that a run can train
//     on one set of tasks and test on another (R-MBN: pure degradations vs Table 4's mixtures).
//   Training batches (make_stream): cycles, as the paper trains: cycle c holds cycle[i]
//     minibatches of task i (MBN: 1 haze, 1 rain, 1 JPEG, 3 blur), every batch from one task,
//     in an order that is "fixed" (the tasks' order, each repeated) or "shuffled" per cycle
//     with Rng(derive_seed(seed, "task_cycle", c)) — the same on every rank, so all ranks
//     train the same task at the same step. Each task's batches come from its own Loader
//     (rank-sharded, epoch-seeded as data/loader.h); the stream's epoch is one cycle, and a
//     position (cycle, index) determines every task loader's position, so a resume is exact.
#include <memory>
#include <string>
#include <vector>

#include "data/batch_stream.h"
#include "data/dataset.h"
#include "data/loader.h"

namespace dmgn::data {

struct MultiTaskOptions {
  std::string table = "data.multitask";  // its config table ("data.multitask_test")
  std::string source = "builtin";
  std::vector<std::string> tasks, synths, labels, overrides;
  std::vector<int64_t> cycle, crops;
  bool shuffled = true;
  // `name`: the registered dataset name ("multitask" | "multitask_test"), whose table it reads.
  static MultiTaskOptions from_config(const Config& full, const std::string& name = "multitask");
  std::string dataset_name() const { return table.substr(5); }
};

// The tasks (indices into MultiTaskOptions::tasks) of cycle `c`, in training order.
std::vector<size_t> cycle_order(const std::vector<int64_t>& counts, bool shuffled, uint64_t seed, uint64_t c);

class MultiTaskDataset final : public Dataset {
 public:
  static std::shared_ptr<MultiTaskDataset> from_config(const Config& full, Split split,
                                                       const std::string& name = "multitask");
  size_t size() const override;
  std::string name() const override { return o_.dataset_name(); }
  std::map<std::string, std::string> provenance() const override;
  std::vector<std::shared_ptr<const Dataset>> parts() const override;
  std::unique_ptr<BatchStream> make_stream(const LoaderOptions& options) const override;
  int64_t converted_files() const override;
  const MultiTaskOptions& options() const { return o_; }

 protected:
  Sample make(size_t index, uint64_t epoch) const override;

 private:
  MultiTaskOptions o_;
  std::vector<std::shared_ptr<Dataset>> parts_;  // one per task (TaskPart)
  void share_min_side() const;
};

// The task-cycle stream of MultiTaskDataset::make_stream.
class TaskCycleStream final : public BatchStream {
 public:
  TaskCycleStream(std::vector<std::shared_ptr<const Dataset>> parts, std::vector<int64_t> counts, bool shuffled,
                  const LoaderOptions& options);
  int64_t batches_per_epoch() const override { return cycle_length_; }
  uint64_t epoch() const override { return cycle_; }
  int64_t batch_index() const override { return index_; }
  void set_position(uint64_t epoch, int64_t batch_index) override;
  Batch next_rolling() override;
  int64_t bad_sample_count() const override;
  int64_t batch_size() const override { return batch_size_; }
  // The task index of the batch next_rolling() returns next.
  size_t next_task() const { return order_[static_cast<size_t>(index_)]; }

 private:
  std::vector<std::unique_ptr<Loader>> loaders_;
  std::vector<int64_t> counts_;
  bool shuffled_;
  uint64_t seed_;
  int64_t cycle_length_ = 0, batch_size_ = 1;
  uint64_t cycle_ = 0;
  int64_t index_ = 0;
  std::vector<size_t> order_;  // cycle_order of cycle_
};

void register_multitask_dataset();

}  // namespace dmgn::data
