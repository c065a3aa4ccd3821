#include "report/tables.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "core/error.h"
#include "report/paper_csv.h"
#include "report/render_table.h"
#include "core/registry.h"

namespace dmgn::report {
namespace fs = std::filesystem;

namespace {

const std::vector<MetricSpec> kPsnrSsim = {{"psnr", "PSNR", 2}, {"ssim", "SSIM", 3}};

// Whether a bench row's params (written by `dmgn bench model`) contain the word `word`.
bool params_have(const std::string& params, const std::string& word) {
  return (" " + params + " ").find(" " + word + " ") != std::string::npos;
}

std::optional<double> param_value(const std::string& params, const std::string& key) {
  const std::string needle = key + "=";
  const auto p = (" " + params).find(" " + needle);
  if (p == std::string::npos) return std::nullopt;
  try {
    return std::stod(params.substr(p + needle.size()));
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace

PaperVsOurs build_complexity_table(const store::RunStore& store, const PaperTable& paper, const TableSpec& spec,
                                   const ReportOptions& o) {
  for (const char* m : {"gflops", "inference_s"})
    if (std::find(paper.metrics.begin(), paper.metrics.end(), m) == paper.metrics.end())
      throw DataError(fmt::format("{}: a complexity table needs a '{}' column in the header", paper.file.string(), m));
  PaperVsOurs t;
  t.spec = spec;
  t.paper_file = paper.file;
  t.store_file = store.path();
  t.columns.push_back({"Complexity", "complexity", true});
  const auto benches = store.benches("model");
  for (const auto& label : paper.methods()) {
    TableRow row;
    row.label = label;
    const std::string variant = fmt::format("variant=\"{}\"", spec.variant_for(label));
    // The latest configuration benchmarked for this row.
    const store::BenchRow* latest = nullptr;
    for (const auto& b : benches)
      if (params_have(b.params, "experiment=" + spec.experiment) && b.params.find(variant) != std::string::npos)
        latest = &b;
    std::optional<double> gmacs, seconds, params_m;
    std::string device, threads;
    if (latest) {
      for (const auto& b : benches) {
        if (b.config_hash != latest->config_hash || b.device != latest->device ||
            b.params.find(variant) == std::string::npos)
          continue;
        // fp32 numbers only (rows before `--precision` existed carry no precision).
        if (b.params.find("precision=") != std::string::npos && !params_have(b.params, "precision=fp32")) continue;
        const auto size = param_value(b.params, "size");
        if (b.name == "parameters") params_m = b.value / 1e6;
        if (b.name == "macs" && size && *size == static_cast<double>(o.size)) gmacs = b.value / 1e9;
        if (b.name == "latency_ms" && size && *size == static_cast<double>(o.size)) {
          seconds = b.value / 1000.0;
          device = b.device;
          const auto th = param_value(b.params, "threads");
          threads = th ? fmt::format("{}", static_cast<int>(*th)) : "?";
        }
      }
      row.provenance = fmt::format("config {}; {}{}; {}x{}", latest->config_hash.substr(0, 12),
                                   device.empty() ? latest->device : device,
                                   threads.empty() ? "" : fmt::format(", {} thread(s)", threads), o.size, o.size);
    }
    const auto cell = [&](const char* metric, std::optional<double> ours) {
      Cell c;
      c.paper = paper.value(label, "complexity", metric);
      c.ours = ours;
      c.ours_n = ours ? 1 : 0;
      return c;
    };
    Cell params;
    params.ours = params_m;
    params.ours_n = params_m ? 1 : 0;
    row.cells.push_back({cell("gflops", gmacs), cell("inference_s", seconds), params});
    t.rows.push_back(std::move(row));
  }
  t.notes.push_back(fmt::format(
      "Ours: `dmgn bench model` rows (bench 'model', experiment '{}') in the store, input {}x{}, batch 1; GMACs count "
      "multiply-accumulates of every convolution and linear layer that runs (VGG passes included), which is what "
      "papers usually print as GFLOPs; inference = median time per image on the device named in the provenance.",
      spec.experiment, o.size, o.size));
  return t;
}

namespace {

using TableRegistry = Registry<TableDef>;
TableRegistry& tables() {
  static TableRegistry r("table");
  return r;
}

// The definitions themselves, by id (the registry lists them and keeps their order).
std::map<std::string, TableDef>& definitions() {
  static std::map<std::string, TableDef> defs;
  return defs;
}

}  // namespace

const std::vector<MetricSpec>& psnr_ssim_metrics() { return kPsnrSsim; }

void register_table(TableDef def) {
  if (def.id.empty() || (!def.from_study && !def.spec))
    throw Error(fmt::format("report table '{}' registered without an id or a spec", def.id));
  const std::string id = def.id, help = def.help;
  tables().add(id, help, [id] { return definitions().at(id); });
  definitions()[id] = std::move(def);
}

std::vector<std::string> table_ids() {
  std::vector<std::string> ids;
  for (const auto& id : tables().names_in_order())
    if (!definitions().at(id).from_study) ids.push_back(id);
  return ids;
}

std::vector<std::string> table_ids_all() { return tables().names_in_order(); }

const TableDef& table_def(const std::string& id) {
  const auto it = definitions().find(id);
  if (it == definitions().end())
    throw ConfigError(fmt::format("unknown table '{}' (known: {})", id, fmt::join(tables().names_in_order(), ", ")));
  return it->second;
}

fs::path paper_dir_of(const std::string& id, const ReportOptions& o) {
  if (!o.paper_dir.empty()) return o.paper_dir;
  return fs::path(DMGN_SOURCE_DIR) / table_def(id).paper_dir;
}

TableSpec table_spec(const std::string& id, const ReportOptions& o) {
  const TableDef& def = table_def(id);
  if (def.from_study)
    throw ConfigError(fmt::format("table '{}' is built from a human study: dmgn report {} --study NAME", id, id));
  TableSpec spec;
  spec.id = id;
  spec.experiment = id;
  spec.metrics = kPsnrSsim;
  spec.sweep = o.sweep;
  spec.with_evals = o.with_evals;
  // Dataset names: the shared benchmarks', then the table's own folder's (which win).
  spec.dataset_ids = load_dataset_ids(fs::path(DMGN_SOURCE_DIR) / "reports/paper/datasets.csv");
  const fs::path own = paper_dir_of(id, o) / "datasets.csv";
  if (fs::exists(own))
    for (const auto& [name, ds] : load_dataset_ids(own)) spec.dataset_ids[name] = ds;
  def.spec(spec, o);
  return spec;
}

PaperVsOurs build_report_table(const store::RunStore& store, const std::string& id, const ReportOptions& o) {
  const TableSpec spec = table_spec(id, o);
  const TableDef& def = table_def(id);
  const PaperTable paper = load_paper_csv(paper_dir_of(id, o) / (id + ".csv"));
  PaperVsOurs t = def.build ? def.build(store, paper, spec, o) : build_table(store, paper, spec);
  if (def.finish) def.finish(t);
  return t;
}

std::string render_report_table(const store::RunStore& store, const std::string& id, Format fmt,
                                const ReportOptions& o) {
  return render(build_report_table(store, id, o), fmt);
}

store::ReportRecord report_record(const PaperVsOurs& t, const std::string& id, const ReportOptions& o) {
  store::ReportRecord r;
  r.report = id;
  r.sweep = o.sweep;
  std::set<int64_t> runs;
  std::vector<std::string> lines = {t.spec.title, "paper numbers: " + t.paper_file.string()};
  for (const auto& row : t.rows) {
    runs.insert(row.run_ids.begin(), row.run_ids.end());
    if (!row.run_ids.empty())
      lines.push_back(fmt::format("{}: runs {} (seeds {}){}", row.label, fmt::join(row.run_ids, ","),
                                  fmt::join(row.seeds, ","), row.preset.empty() ? "" : ", metric " + row.preset));
  }
  r.runs.assign(runs.begin(), runs.end());
  for (const auto& n : t.notes) lines.push_back(n);
  r.provenance = fmt::format("{}", fmt::join(lines, "\n"));
  for (const auto& p : t.paired) {
    store::ReportVerdict v;
    v.dataset = p.column;
    v.metric = p.metric;
    v.a = p.a;
    v.b = p.b;
    v.verdict = p.missing.empty() ? p.verdict : "not computed";
    if (p.missing.empty()) {
      v.seeds = p.seeds;
      v.images = p.images;
      v.mean = p.mean;
      v.lo = p.lo;
      v.hi = p.hi;
      v.sd_seed = std::sqrt(p.var_seed);
      v.sd_image = std::sqrt(p.var_image);
      v.sd_residual = std::sqrt(p.var_residual);
    }
    r.verdicts.push_back(std::move(v));
  }
  return r;
}

}  // namespace dmgn::report
