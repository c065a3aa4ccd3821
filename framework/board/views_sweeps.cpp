// dmgn board: sweeps, a sweep's variants x seeds grid and its two-axis heat map (board/views.h).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <stdexcept>

#include "board/summary.h"
#include "store/liveness.h"

namespace dmgn::board {

namespace {

bool is_number(const std::string& text, double* value = nullptr) {
  if (text.empty() || text == "true" || text == "false") return false;
  try {
    size_t used = 0;
    const double v = std::stod(text, &used);
    if (used != text.size()) return false;
    if (value) *value = v;
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

// Keys that describe a run rather than what it trains (they vary across any sweep's runs).
bool is_label_key(const std::string& key) {
  return key == "run.seed" || key == "run.variant" || key == "run.name" || key == "run.experiment";
}

// The varying keys grouped into axes: keys whose values split the runs the same way vary
// together (a Fig. 6 axis sets p_r and p_c at once). Each axis: {name, keys, values (sorted)}.
json axes_of(const ConfigSpread& spread) {
  std::map<std::vector<std::string>, std::vector<std::string>> by_partition;  // values per run -> keys
  std::vector<std::vector<std::string>> order;
  for (const auto& [key, varies] : spread.varies) {
    if (!varies || is_label_key(key)) continue;
    std::vector<std::string> column;
    std::map<std::string, std::string> rename;  // first-seen value -> canonical label (the partition)
    for (const auto& [id, config] : spread.configs) {
      const auto it = config.find(key);
      const std::string v = it == config.end() ? "(absent)" : it->second;
      column.push_back(rename.emplace(v, std::to_string(rename.size())).first->second);
    }
    auto& keys = by_partition[column];
    if (keys.empty()) order.push_back(column);
    keys.push_back(key);
  }
  json axes = json::array();
  for (const auto& column : order) {
    auto keys = by_partition[column];
    const auto values_of = [&](const std::string& key) {
      std::vector<std::string> v;
      for (const auto& [id, config] : spread.configs) {
        const auto it = config.find(key);
        v.push_back(it == config.end() ? "(absent)" : it->second);
      }
      return v;
    };
    // The axis is named by the key with the shortest values (p_r's 0.1 over p_c's 0.05000000000000003).
    std::map<std::string, size_t> widest;
    for (const auto& key : keys)
      for (const auto& v : values_of(key)) widest[key] = std::max(widest[key], v.size());
    std::stable_sort(keys.begin(), keys.end(), [&](const auto& a, const auto& b) { return widest[a] < widest[b]; });
    std::vector<std::string> values = values_of(keys.front());
    std::sort(values.begin(), values.end());
    values.erase(std::unique(values.begin(), values.end()), values.end());
    bool numeric = std::all_of(values.begin(), values.end(), [](const std::string& v) { return is_number(v); });
    if (numeric)
      std::sort(values.begin(), values.end(), [](const std::string& a, const std::string& b) {
        return std::stod(a) < std::stod(b);
      });
    axes.push_back({{"name", keys.front()}, {"keys", keys}, {"values", values}, {"numeric", numeric}});
  }
  return axes;
}

// The dataset most runs were tested on (ties: the first in name order).
std::string common_test_set(const std::vector<json>& summaries) {
  std::map<std::string, int> count;
  for (const auto& s : summaries)
    if (!s["test"].empty()) ++count[s["test"][0]["dataset"].get<std::string>()];
  std::string best;
  int most = 0;
  for (const auto& [name, n] : count)
    if (n > most) best = name, most = n;
  return best;
}

const json* test_scores(const json& summary, const std::string& dataset) {
  for (const auto& t : summary["test"])
    if (t["dataset"] == dataset) return &t;
  return nullptr;
}

// Fig. 6's grid: per (x, y) cell the completed runs' mean final test scores on `dataset`.
json heat_map(const json& axes, const ConfigSpread& spread, const std::map<int64_t, json>& summary,
              const std::string& dataset) {
  const std::string kx = axes[0]["name"], ky = axes[1]["name"];
  struct Cell {
    std::vector<double> psnr, ssim, psnr_input, ssim_input;
    std::vector<int64_t> runs;
  };
  std::map<std::pair<std::string, std::string>, Cell> cells;
  for (const auto& [id, config] : spread.configs) {
    const auto& s = summary.at(id);
    if (s["status"] != "completed") continue;
    const json* t = test_scores(s, dataset);
    if (!t) continue;
    auto& c = cells[{config.count(kx) ? config.at(kx) : "(absent)", config.count(ky) ? config.at(ky) : "(absent)"}];
    c.runs.push_back(id);
    const auto add = [&](std::vector<double>& v, const char* name) {
      if (t->contains(name) && (*t)[name].is_number()) v.push_back((*t)[name].get<double>());
    };
    add(c.psnr, "psnr");
    add(c.ssim, "ssim");
    add(c.psnr_input, "psnr_input");
    add(c.ssim_input, "ssim_input");
  }
  const auto mean = [](const std::vector<double>& v) -> json {
    if (v.empty()) return nullptr;
    double s = 0;
    for (double x : v) s += x;
    return s / static_cast<double>(v.size());
  };
  const auto sd = [](const std::vector<double>& v) -> json {
    if (v.size() < 2) return nullptr;
    double m = 0, ss = 0;
    for (double x : v) m += x;
    m /= static_cast<double>(v.size());
    for (double x : v) ss += (x - m) * (x - m);
    return std::sqrt(ss / static_cast<double>(v.size() - 1));
  };
  json out = json::array();
  for (const auto& [xy, c] : cells)
    out.push_back({{"x", xy.first}, {"y", xy.second}, {"n", c.runs.size()}, {"runs", c.runs},
                   {"psnr", mean(c.psnr)}, {"psnr_sd", sd(c.psnr)}, {"ssim", mean(c.ssim)}, {"ssim_sd", sd(c.ssim)},
                   {"psnr_input", mean(c.psnr_input)}, {"ssim_input", mean(c.ssim_input)}});
  return {{"x", axes[0]}, {"y", axes[1]}, {"dataset", dataset}, {"cells", out}};
}

}  // namespace

ConfigSpread config_spread(const std::vector<store::RunRow>& runs) {
  ConfigSpread s;
  std::map<std::string, std::map<std::string, int>> counts;
  for (const auto& run : runs) {
    auto& config = s.configs[run.id];
    for (auto& [key, value] : flatten_config(run.config_text)) {
      ++counts[key][value];
      config.emplace(key, std::move(value));
    }
  }
  for (const auto& [key, values] : counts) {
    std::string best;
    int most = 0, total = 0;
    for (const auto& [value, n] : values) {
      total += n;
      if (n > most) best = value, most = n;
    }
    s.common[key] = best;
    s.varies[key] = values.size() > 1 || total < static_cast<int>(s.configs.size());
  }
  return s;
}

json sweeps_view(const store::RunStore& store) {
  std::map<std::string, json> by_name;
  for (const auto& run : store.runs()) {
    if (run.sweep.empty()) continue;
    auto& s = by_name[run.sweep];
    if (s.is_null()) s = {{"name", run.sweep}, {"runs", 0}, {"experiments", json::array()}, {"status", json::object()}};
    s["runs"] = s["runs"].get<int>() + 1;
    const std::string status = store::live_status(run);
    s["status"][status] = s["status"].value(status, 0) + 1;
    if (std::find(s["experiments"].begin(), s["experiments"].end(), run.experiment) == s["experiments"].end())
      s["experiments"].push_back(run.experiment);
    s["last_started"] = run.started_at;
  }
  json out = json::array();
  for (auto& [name, s] : by_name) out.push_back(std::move(s));
  return {{"sweeps", out}};
}

json sweep_view(const store::RunStore& store, const std::string& sweep) {
  store::RunFilter f;
  f.sweep = sweep;
  const auto runs = store.runs(f);
  if (runs.empty()) throw std::out_of_range(fmt::format("no runs of sweep '{}' in {}", sweep, store.path().string()));
  std::map<int64_t, json> summary;
  std::vector<json> all;
  for (const auto& run : runs) all.push_back(summary[run.id] = run_summary(store, run));
  const std::string dataset = common_test_set(all);

  // Variants (in order of first appearance) x seeds; a (variant, seed) run again keeps the
  // latest completed one, or the latest when none completed.
  std::vector<std::string> variants;
  std::set<int64_t> seeds;
  std::map<std::pair<std::string, int64_t>, std::vector<int64_t>> tried;
  for (const auto& run : runs) {
    if (std::find(variants.begin(), variants.end(), run.variant) == variants.end()) variants.push_back(run.variant);
    seeds.insert(run.seed);
    tried[{run.variant, run.seed}].push_back(run.id);
  }
  json grid = json::array();
  for (const auto& [key, ids] : tried) {
    int64_t shown = ids.back();
    for (int64_t id : ids)
      if (summary[id]["status"] == "completed") shown = id;
    json cell = {{"variant", key.first}, {"seed", key.second}, {"run", shown}, {"status", summary[shown]["status"]},
                 {"attempts", ids.size()}, {"step", summary[shown]["step"]},
                 {"total_steps", summary[shown]["total_steps"]}};
    if (const json* t = test_scores(summary[shown], dataset)) cell["test"] = *t;
    grid.push_back(cell);
  }
  const auto spread = config_spread(runs);
  const json axes = axes_of(spread);
  json j = {{"name", sweep}, {"runs", all},      {"variants", variants}, {"seeds", seeds},
            {"grid", grid},  {"axes", axes},     {"dataset", dataset},   {"heat_map", nullptr}};
  if (axes.size() == 2 && axes[0]["numeric"] && axes[1]["numeric"])
    j["heat_map"] = heat_map(axes, spread, summary, dataset);
  else if (axes.size() != 2)
    j["heat_map_note"] = fmt::format("a heat map needs two varying axes; this sweep's runs vary along {}", axes.size());
  else
    j["heat_map_note"] = "a heat map needs two numeric axes";
  return j;
}

}  // namespace dmgn::board
