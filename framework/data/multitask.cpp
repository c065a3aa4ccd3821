#include "data/multitask.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <numeric>
#include <sstream>

#include "core/error.h"
#include "core/rng.h"

namespace dmgn::data {
namespace {

// One task of a multi-task dataset: the source dataset opened for that task, its samples tagged
// with the task, named "multitask/<task>".
class TaskPart final : public Dataset {
 public:
  TaskPart(DatasetPtr inner, std::string name, std::string task)
      : inner_(std::move(inner)), name_(std::move(name)), task_(std::move(task)) {}
  size_t size() const override { return inner_->size(); }
  std::string name() const override { return name_; }
  std::string task() const override { return task_; }
  std::map<std::string, std::string> provenance() const override {
    auto p = inner_->provenance();
    p["task"] = task_;
    p["part_of"] = name_.substr(0, name_.find('/'));
    return p;
  }
  std::vector<DataIssue> listing_issues() const override { return inner_->listing_issues(); }
  int64_t converted_files() const override { return inner_->converted_files(); }

 protected:
  Sample make(size_t index, uint64_t epoch) const override {
    Sample s = inner_->get(index, epoch);
    s.task = task_;
    return s;
  }

 private:
  DatasetPtr inner_;
  std::string name_, task_;
};

}  // namespace

MultiTaskOptions MultiTaskOptions::from_config(const Config& full, const std::string& name) {
  MultiTaskOptions o;
  o.table = "data." + name;
  const Config c = full.sub(o.table);
  o.source = c.get_string("source");
  o.tasks = c.get_strings("tasks");
  o.synths = c.get_strings("synths");
  o.cycle = c.get_ints("cycle");
  o.crops = c.get_ints("crops");
  o.labels = c.get_strings("labels");
  o.overrides = c.get_strings("overrides");
  o.shuffled = c.get_string("order") == "shuffled";
  const size_t n = o.tasks.size();
  if (n == 0) throw ConfigError(fmt::format("config key '{}.tasks' is empty", o.table));
  if (o.labels.empty()) o.labels = o.tasks;
  if (o.overrides.empty()) o.overrides.assign(n, "");
  for (const auto& [key, size] : std::vector<std::pair<const char*, size_t>>{{"synths", o.synths.size()},
                                                                              {"cycle", o.cycle.size()},
                                                                              {"crops", o.crops.size()},
                                                                              {"labels", o.labels.size()},
                                                                              {"overrides", o.overrides.size()}})
    if (size != n)
      throw ConfigError(fmt::format("config key '{}.{}' has {} entries; {}.tasks has {}", o.table, key, size, o.table, n));
  for (size_t i = 0; i < n; ++i) {
    if (o.labels[i].empty() || o.labels[i].find('/') != std::string::npos)
      throw ConfigError(fmt::format("config key '{}.labels': '{}' must be non-empty and without '/'", o.table,
                                    o.labels[i]));
    for (size_t j = 0; j < i; ++j)
      if (o.labels[i] == o.labels[j])
        throw ConfigError(fmt::format("config key '{}.labels' (or tasks) names '{}' twice", o.table, o.labels[i]));
  }
  if (std::accumulate(o.cycle.begin(), o.cycle.end(), int64_t{0}) <= 0)
    throw ConfigError(fmt::format("config key '{}.cycle': a cycle needs at least one minibatch", o.table));
  if (o.source.rfind("multitask", 0) == 0)
    throw ConfigError(fmt::format("config key '{}.source' cannot be a multi-task dataset", o.table));
  return o;
}

std::vector<size_t> cycle_order(const std::vector<int64_t>& counts, bool shuffled, uint64_t seed, uint64_t c) {
  std::vector<size_t> order;
  for (size_t i = 0; i < counts.size(); ++i)
    for (int64_t k = 0; k < counts[i]; ++k) order.push_back(i);
  if (shuffled) {
    Rng rng(derive_seed(seed, "task_cycle", c));
    for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[static_cast<size_t>(rng.integer(0, static_cast<int64_t>(i) - 1))]);
  }
  return order;
}

std::shared_ptr<MultiTaskDataset> MultiTaskDataset::from_config(const Config& full, Split split,
                                                                const std::string& name) {
  auto ds = std::make_shared<MultiTaskDataset>();
  const auto& o = ds->o_ = MultiTaskOptions::from_config(full, name);
  if (!datasets().contains(o.source))
    throw ConfigError(fmt::format("config key '{}.source': '{}' is not a registered dataset ({})", o.table, o.source,
                                  fmt::join(datasets().names(), ", ")));
  for (size_t i = 0; i < o.tasks.size(); ++i) {
    const std::string part = o.dataset_name() + "/" + o.labels[i];
    DatasetPtr inner;
    try {
      Config c = full;
      c.set(fmt::format("data.{}.synth=\"{}\"", o.source, o.synths[i]));
      c.set(fmt::format("data.crop={}", o.crops[i]));
      std::stringstream assignments(o.overrides[i]);
      for (std::string a; std::getline(assignments, a, ';');)
        if (a.find_first_not_of(' ') != std::string::npos) c.set(a.substr(a.find_first_not_of(' ')));
      inner = datasets().make(o.source, c, split);
    } catch (const Error& e) {
      throw ConfigError(fmt::format("{} part '{}' (task {}, synth {}): {}", o.table, o.labels[i], o.tasks[i], o.synths[i],
                                    e.what()));
    }
    ds->parts_.push_back(std::make_shared<TaskPart>(std::move(inner), part, o.tasks[i]));
  }
  return ds;
}

size_t MultiTaskDataset::size() const {
  size_t n = 0;
  for (const auto& p : parts_) n += p->size();
  return n;
}

Sample MultiTaskDataset::make(size_t index, uint64_t epoch) const {
  for (const auto& p : parts_) {
    if (index < p->size()) return p->get(index, epoch);
    index -= p->size();
  }
  throw DataError(fmt::format("multitask: sample index {} is past the end ({})", index, size()));
}

std::map<std::string, std::string> MultiTaskDataset::provenance() const {
  std::map<std::string, std::string> p{{"dataset", name()},
                                       {"tasks", fmt::format("{}", fmt::join(o_.tasks, ","))},
                                       {"labels", fmt::format("{}", fmt::join(o_.labels, ","))},
                                       {"synths", fmt::format("{}", fmt::join(o_.synths, ","))},
                                       {"cycle", fmt::format("{}", fmt::join(o_.cycle, ","))},
                                       {"crops", fmt::format("{}", fmt::join(o_.crops, ","))},
                                       {"cycle_order", o_.shuffled ? "shuffled" : "fixed"},
                                       {"samples", std::to_string(size())}};
  for (size_t i = 0; i < parts_.size(); ++i)
    for (const auto& [k, v] : parts_[i]->provenance())
      if (k != "task" && k != "part_of") p[o_.labels[i] + "." + k] = v;
  for (size_t i = 0; i < parts_.size(); ++i)
    if (!o_.overrides[i].empty()) p[o_.labels[i] + ".overrides"] = o_.overrides[i];
  return p;
}

void MultiTaskDataset::share_min_side() const {
  // The parts take the consuming model's limit set on this dataset (open_for_model).
  for (const auto& p : parts_)
    if (p->min_side() != min_side()) p->require_min_side(min_side(), "the model (via multitask)");
}

std::vector<std::shared_ptr<const Dataset>> MultiTaskDataset::parts() const {
  share_min_side();
  return {parts_.begin(), parts_.end()};
}

int64_t MultiTaskDataset::converted_files() const {
  int64_t n = 0;
  for (const auto& p : parts_) n += p->converted_files();
  return n;
}

std::unique_ptr<BatchStream> MultiTaskDataset::make_stream(const LoaderOptions& options) const {
  return std::make_unique<TaskCycleStream>(parts(), o_.cycle, o_.shuffled, options);
}

TaskCycleStream::TaskCycleStream(std::vector<std::shared_ptr<const Dataset>> parts, std::vector<int64_t> counts,
                                 bool shuffled, const LoaderOptions& options)
    : counts_(std::move(counts)), shuffled_(shuffled), seed_(options.seed), batch_size_(options.batch_size) {
  for (size_t i = 0; i < parts.size(); ++i) {
    LoaderOptions o = options;
    o.seed = derive_seed(options.seed, "task", i);  // independent orders per task
    loaders_.push_back(counts_[i] > 0 ? std::make_unique<Loader>(parts[i], o) : nullptr);
  }
  cycle_length_ = std::accumulate(counts_.begin(), counts_.end(), int64_t{0});
  set_position(0, 0);
}

void TaskCycleStream::set_position(uint64_t cycle, int64_t index) {
  if (index < 0 || index > cycle_length_)
    throw Error(fmt::format("task cycle position {} is outside [0, {}]", index, cycle_length_));
  if (index == cycle_length_) {
    ++cycle;
    index = 0;
  }
  cycle_ = cycle;
  index_ = index;
  order_ = cycle_order(counts_, shuffled_, seed_, cycle_);
  // Batches task i has given before this position: whole cycles, then this cycle's first `index`.
  for (size_t i = 0; i < loaders_.size(); ++i) {
    if (!loaders_[i]) continue;
    uint64_t n = cycle * static_cast<uint64_t>(counts_[i]);
    for (int64_t k = 0; k < index; ++k) n += order_[static_cast<size_t>(k)] == i ? 1 : 0;
    const auto per = static_cast<uint64_t>(loaders_[i]->batches_per_epoch());
    loaders_[i]->set_position(n / per, static_cast<int64_t>(n % per));
  }
}

Batch TaskCycleStream::next_rolling() {
  Batch b = loaders_[order_[static_cast<size_t>(index_)]]->next_rolling();
  if (++index_ == cycle_length_) {
    index_ = 0;
    order_ = cycle_order(counts_, shuffled_, seed_, ++cycle_);
  }
  return b;
}

int64_t TaskCycleStream::bad_sample_count() const {
  int64_t n = 0;
  for (const auto& l : loaders_)
    if (l) n += l->bad_sample_count();
  return n;
}

void register_multitask_dataset() {
  datasets().add("multitask",
                 "several tasks' data (data.multitask.source with one synthesis per part), trained in cycles of "
                 "single-task minibatches and scored per part (MBN, Sec. 4.1)",
                 [](const Config& full, Split split) -> DatasetPtr { return MultiTaskDataset::from_config(full, split); });
  datasets().add("multitask_test", "a second multi-task dataset from [data.multitask_test] (test on other parts)",
                 [](const Config& full, Split split) -> DatasetPtr {
                   return MultiTaskDataset::from_config(full, split, "multitask_test");
                 });
}

}  // namespace dmgn::data
