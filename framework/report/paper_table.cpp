#include "report/paper_table.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>
#include <set>

#include "core/error.h"

namespace dmgn::report {

namespace {

// Our numbers of one run: (dataset, metric) -> the value at the highest step, plus presets.
struct RunNumbers {
  std::map<std::pair<std::string, std::string>, store::Metric> best;
};

RunNumbers numbers_of(const store::RunStore& store, int64_t run_id, const TableSpec& spec) {
  RunNumbers out;
  for (const auto& m : store.metrics(run_id, spec.split)) {
    const bool wanted = std::any_of(spec.metrics.begin(), spec.metrics.end(),
                                    [&](const MetricSpec& s) { return s.name == m.name; });
    if (!wanted) continue;
    const auto key = std::make_pair(m.dataset, m.name);
    const auto it = out.best.find(key);
    if (it == out.best.end() || m.step >= it->second.step) out.best[key] = m;
  }
  return out;
}

}  // namespace

std::string TableSpec::variant_for(const std::string& label) const {
  const auto it = variant_of.find(label);
  return it == variant_of.end() ? label : it->second;
}

std::string dataset_id(const std::string& paper_name) {
  std::string id = paper_name;
  std::transform(id.begin(), id.end(), id.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return id;
}

PaperVsOurs build_table(const store::RunStore& store, const PaperTable& paper,
                        const TableSpec& spec) {
  for (const auto& m : spec.metrics)
    if (std::find(paper.metrics.begin(), paper.metrics.end(), m.name) == paper.metrics.end())
      throw DataError(fmt::format("{}: {} needs a '{}' column in the header", paper.file.string(),
                                  spec.id, m.name));

  PaperVsOurs t;
  t.spec = spec;
  t.paper_file = paper.file;
  t.store_file = store.path();
  for (const auto& d : paper.datasets()) t.columns.push_back({d, dataset_id(d), true});

  // The run behind each label (several labels may share one variant, e.g. Complete losses).
  std::map<std::string, std::optional<store::RunRow>> run_of_variant;
  std::map<int64_t, RunNumbers> numbers;
  for (const auto& label : paper.methods()) {
    const std::string variant = spec.variant_for(label);
    if (run_of_variant.count(variant)) continue;
    store::RunFilter filter;
    filter.experiment = spec.experiment;
    filter.variant = variant;
    filter.status = "completed";
    const auto runs = store.runs(filter);
    if (runs.empty()) {
      run_of_variant[variant] = std::nullopt;
      continue;
    }
    run_of_variant[variant] = runs.back();  // ordered by id: the most recent
    numbers[runs.back().id] = numbers_of(store, runs.back().id, spec);
  }

  // Extra columns: datasets our selected runs were evaluated on that the paper lacks.
  std::set<std::string> extra;
  for (const auto& [id, nums] : numbers)
    for (const auto& [key, metric] : nums.best) {
      const bool in_paper = std::any_of(t.columns.begin(), t.columns.end(),
                                        [&](const DatasetColumn& c) { return c.id == key.first; });
      if (!in_paper) extra.insert(key.first);
    }
  for (const auto& d : extra) t.columns.push_back({d, d, false});

  for (const auto& label : paper.methods()) {
    TableRow row;
    row.label = label;
    row.run = run_of_variant[spec.variant_for(label)];
    const RunNumbers* nums = row.run ? &numbers[row.run->id] : nullptr;
    std::set<std::string> presets;
    for (const auto& col : t.columns) {
      std::vector<Cell> cells;
      for (const auto& m : spec.metrics) {
        Cell cell;
        if (col.in_paper) cell.paper = paper.value(label, col.label, m.name);
        if (nums) {
          const auto it = nums->best.find({col.id, m.name});
          if (it != nums->best.end()) {
            cell.ours = it->second.value;
            if (!it->second.preset.empty()) presets.insert(it->second.preset);
          }
        }
        cells.push_back(cell);
      }
      row.cells.push_back(std::move(cells));
    }
    row.preset = fmt::format("{}", fmt::join(presets, "/"));
    t.rows.push_back(std::move(row));
  }
  return t;
}

}  // namespace dmgn::report
