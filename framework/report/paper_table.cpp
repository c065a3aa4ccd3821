#include "report/paper_table.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <set>

#include "core/config.h"
#include "core/error.h"
#include "report/paired.h"

namespace dmgn::report {

namespace {

// A completed run and its final numbers: (dataset, metric) -> RunStore::final_metrics.
struct RunNumbers {
  store::RunRow run;
  std::string group;  // the run's configuration up to the seed
  std::map<std::pair<std::string, std::string>, store::Metric> best;
};

// The configuration of a run without its seed: the hash of its config with run.seed = 0
// (runs stored without a config text fall back to their config hash).
std::string group_key(const store::RunRow& run) {
  if (run.config_text.empty()) return "hash:" + run.config_hash;
  try {
    Config cfg = Config::from_canonical(run.config_text);
    cfg.set("run.seed=0");
    return cfg.hash();
  } catch (const Error&) {
    return "hash:" + run.config_hash;
  }
}

RunNumbers numbers_of(const store::RunStore& store, const store::RunRow& run, const TableSpec& spec) {
  RunNumbers out;
  out.run = run;
  out.group = group_key(run);
  for (const auto& m : store.final_metrics(run.id, spec.split)) {
    const bool wanted = std::any_of(spec.metrics.begin(), spec.metrics.end(), [&](const MetricSpec& s) {
      return s.name == m.name || (!spec.input_rows.empty() && s.name + "_input" == m.name);
    });
    if (wanted) out.best[{m.dataset, m.name}] = m;
  }
  if (spec.with_evals && spec.split == "test") {
    store::EvalFilter f;
    f.run_id = run.id;
    f.origin = "eval";
    std::set<std::string> own;
    for (const auto& [key, m] : out.best) own.insert(key.first);
    for (const auto& e : store.evaluations(f)) {  // the latest per dataset wins
      if (own.count(e.dataset)) continue;
      for (const auto& named : {std::pair{"psnr", e.psnr}, std::pair{"ssim", e.ssim},
                                std::pair{"psnr_input", e.psnr_input}, std::pair{"ssim_input", e.ssim_input}}) {
        const std::string name = named.first;
        const double v = named.second;
        const bool wanted = std::any_of(spec.metrics.begin(), spec.metrics.end(), [&](const MetricSpec& s) {
          return s.name == name || (!spec.input_rows.empty() && s.name + "_input" == name);
        });
        if (wanted) out.best[{e.dataset, name}] = store::Metric{run.id, e.step, "test", e.dataset, name, v, e.preset};
      }
    }
  }
  for (const auto& [id, parts] : spec.derived)
    for (const auto& ms : spec.metrics) {
      double sum = 0, weights = 0;
      std::set<std::string> presets;
      bool all = !parts.empty();
      for (const auto& [part, w] : parts) {
        const auto it = out.best.find({part, ms.name});
        if (it == out.best.end()) {
          all = false;
          break;
        }
        sum += w * it->second.value;
        weights += w;
        presets.insert(it->second.preset);
      }
      if (!all || weights <= 0) continue;
      store::Metric m;
      m.run_id = run.id;
      m.split = spec.split;
      m.dataset = id;
      m.name = ms.name;
      m.value = sum / weights;
      m.preset = fmt::format("{}", fmt::join(presets, "/"));
      out.best[{id, ms.name}] = m;
    }
  return out;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

}  // namespace

std::string TableSpec::variant_for(const std::string& label) const {
  const auto it = variant_of.find(label);
  return it == variant_of.end() ? label : it->second;
}

std::string TableSpec::dataset_id(const std::string& paper_name) const {
  const auto it = dataset_ids.find(paper_name);
  return it == dataset_ids.end() ? lower(paper_name) : it->second;
}

std::map<std::string, std::string> load_dataset_ids(const std::filesystem::path& file) {
  std::map<std::string, std::string> ids;
  std::ifstream in(file);
  if (!in) return ids;
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const auto f = split_csv_line(line, file, n);
    if (n == 1) {
      if (f.size() != 2 || f[0] != "paper_name" || f[1] != "dataset_id")
        throw DataError(fmt::format("{}:1: header must be 'paper_name,dataset_id'", file.string()));
      continue;
    }
    if (f.size() != 2 || f[0].empty() || f[1].empty())
      throw DataError(fmt::format("{}:{}: expected 'paper name,dataset id'", file.string(), n));
    if (!ids.emplace(f[0], f[1]).second)
      throw DataError(fmt::format("{}:{}: '{}' is listed twice", file.string(), n, f[0]));
  }
  return ids;
}

std::string ours_text(const Cell& cell, int decimals, const char* pm) {
  if (!cell.ours) return "";
  if (cell.ours_n <= 1) return fmt::format("{:.{}f}", *cell.ours, decimals);
  return fmt::format("{:.{}f} {} {:.{}f}", *cell.ours, decimals, pm, cell.ours_std, decimals);
}

PaperVsOurs build_table(const store::RunStore& store, const PaperTable& paper, const TableSpec& spec) {
  for (const auto& m : spec.metrics)
    if (std::find(paper.metrics.begin(), paper.metrics.end(), m.name) == paper.metrics.end())
      throw DataError(fmt::format("{}: {} needs a '{}' column in the header", paper.file.string(), spec.id, m.name));

  PaperVsOurs t;
  t.spec = spec;
  t.paper_file = paper.file;
  t.store_file = store.path();
  for (const auto& d : paper.datasets()) t.columns.push_back({d, spec.dataset_id(d), true});

  std::vector<std::string> labels = paper.methods();
  for (const auto& e : spec.extra_rows)
    if (std::find(labels.begin(), labels.end(), e) == labels.end()) labels.push_back(e);

  // The completed runs of every variant the table looks up, oldest first.
  std::map<std::string, std::vector<RunNumbers>> runs_of;
  auto candidates = [&](const std::string& variant) -> const std::vector<RunNumbers>& {
    auto it = runs_of.find(variant);
    if (it != runs_of.end()) return it->second;
    store::RunFilter filter;
    filter.experiment = spec.experiment;
    filter.variant = variant;
    filter.status = "completed";
    filter.sweep = spec.sweep;
    std::vector<RunNumbers> v;
    for (const auto& r : store.runs(filter)) v.push_back(numbers_of(store, r, spec));
    return runs_of.emplace(variant, std::move(v)).first->second;
  };
  auto variant_of_cell = [&](const std::string& label, const std::string& column) {
    const auto in = spec.input_rows.find(label);
    if (in != spec.input_rows.end()) return in->second;
    const auto it = spec.cell_variant.find({label, column});
    return it == spec.cell_variant.end() ? spec.variant_for(label) : it->second;
  };

  // Extra columns: datasets the table's runs were tested on that the paper lacks.
  std::set<std::string> extra;
  for (const auto& label : labels)
    for (const auto& col : t.columns)
      for (const auto& rn : candidates(variant_of_cell(label, col.label)))
        for (const auto& best : rn.best) {
          const auto& dataset = best.first.first;
          const bool in_paper = std::any_of(t.columns.begin(), t.columns.end(),
                                            [&](const DatasetColumn& c) { return c.id == dataset; });
          if (!in_paper) extra.insert(dataset);
        }
  for (const auto& d : extra) t.columns.push_back({d, d, false});

  for (const auto& label : labels) {
    TableRow row;
    row.label = label;
    std::set<std::string> presets;
    std::map<int64_t, const RunNumbers*> used;
    for (const auto& col : t.columns) {
      const auto& runs = candidates(variant_of_cell(label, col.in_paper ? col.label : label));
      std::vector<Cell> cells;
      const bool input_row = spec.input_rows.count(label) > 0;
      for (const auto& spec_metric : spec.metrics) {
        Cell cell;
        if (col.in_paper) cell.paper = paper.value(label, col.label, spec_metric.name);
        // The input row reads the identity scores its variant's runs stored beside their own.
        MetricSpec m = spec_metric;
        if (input_row) m.name += "_input";
        // The latest run with this number fixes the configuration; its seeds are averaged.
        // One model per row: its latest run fixes the configuration. One model per column
        // (per_column_models): the latest run with a number on this column does.
        const RunNumbers* latest = nullptr;
        for (const auto& rn : runs)
          if (!spec.per_column_models || rn.best.count({col.id, m.name})) latest = &rn;
        std::map<int64_t, const RunNumbers*> by_seed;  // the latest run per seed
        if (latest)
          for (const auto& rn : runs)
            if (rn.group == latest->group && (!spec.per_column_models || rn.best.count({col.id, m.name})))
              by_seed[rn.run.seed] = &rn;
        for (auto it = by_seed.begin(); it != by_seed.end();)
          it = it->second->best.count({col.id, m.name}) ? std::next(it) : by_seed.erase(it);
        if (!by_seed.empty()) {
          std::vector<double> v;
          for (const auto& [seed, rn] : by_seed) {
            const auto& metric = rn->best.at({col.id, m.name});
            v.push_back(metric.value);
            cell.per_seed[seed] = metric.value;
            if (!metric.preset.empty()) presets.insert(metric.preset);
            used[rn->run.id] = rn;
          }
          double mean = 0;
          for (double x : v) mean += x;
          mean /= static_cast<double>(v.size());
          double ss = 0;
          for (double x : v) ss += (x - mean) * (x - mean);
          cell.ours = mean;
          cell.ours_n = static_cast<int>(v.size());
          cell.ours_std = v.size() > 1 ? std::sqrt(ss / static_cast<double>(v.size() - 1)) : 0.0;
        }
        cells.push_back(cell);
      }
      row.cells.push_back(std::move(cells));
    }
    std::set<int64_t> seeds;
    for (const auto& [id, rn] : used) {
      row.run_ids.push_back(id);
      seeds.insert(rn->run.seed);
      if (!row.run || id > row.run->id) row.run = rn->run;
    }
    row.seeds.assign(seeds.begin(), seeds.end());
    row.preset = fmt::format("{}", fmt::join(presets, "/"));
    t.rows.push_back(std::move(row));
  }
  for (auto& line : ordering_verdicts(t)) t.notes.push_back(std::move(line));
  t.paired = paired_comparisons(store, t);
  for (auto& line : paired_verdicts(t)) t.notes.push_back(std::move(line));
  return t;
}

std::vector<std::string> ordering_verdicts(const PaperVsOurs& t) {
  std::vector<std::string> out;
  if (t.spec.orderings.empty()) return out;
  auto row_of = [&](const std::string& label) -> const TableRow* {
    for (const auto& r : t.rows)
      if (r.label == label) return &r;
    return nullptr;
  };
  std::vector<std::string> chain;
  for (const auto& [a, b] : t.spec.orderings) chain.push_back(a + " < " + b);
  for (size_t c = 0; c < t.columns.size(); ++c)
    for (size_t m = 0; m < t.spec.metrics.size(); ++m) {
      std::vector<std::string> parts;
      int holds = 0, checked = 0;
      for (const auto& [a, b] : t.spec.orderings) {
        const TableRow* ra = row_of(a);
        const TableRow* rb = row_of(b);
        if (!ra || !rb) continue;
        const Cell& ca = ra->cells[c][m];
        const Cell& cb = rb->cells[c][m];
        if (!ca.ours || !cb.ours) continue;
        ++checked;
        const bool ok = *ca.ours < *cb.ours;
        holds += ok;
        // Separated: the gap exceeds the larger std (a rough check, not a test).
        const bool clear = std::abs(*cb.ours - *ca.ours) > std::max(ca.ours_std, cb.ours_std);
        const int d = t.spec.metrics[m].decimals;
        // Paired by seed (same seed = same data order and held-out photos): in how many seeds it holds.
        int paired = 0, paired_ok = 0;
        for (const auto& [seed, va] : ca.per_seed)
          if (const auto it = cb.per_seed.find(seed); it != cb.per_seed.end()) {
            ++paired;
            paired_ok += va < it->second;
          }
        parts.push_back(fmt::format("{} ({}) < {} ({}): {}{}{}", a, ours_text(ca, d, "+-"), b, ours_text(cb, d, "+-"),
                                    ok ? "holds" : "does NOT hold",
                                    ca.ours_n > 1 && cb.ours_n > 1 && !clear ? " (within one std)" : "",
                                    paired > 1 ? fmt::format(", in {} of {} seeds", paired_ok, paired) : ""));
      }
      if (checked == 0) continue;
      out.push_back(fmt::format("Paper ordering on {} {} (ours): {} of {} pairs hold{}. {}.", t.columns[c].label,
                                t.spec.metrics[m].header, holds, checked,
                                holds == checked ? " (the paper's ordering holds)" : "", fmt::join(parts, "; ")));
    }
  if (out.empty())
    out.push_back(fmt::format("Paper ordering ({}): not checked, our runs do not cover both sides of any pair.",
                              fmt::join(chain, ", ")));
  return out;
}

}  // namespace dmgn::report
