#include "report/tables.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "core/error.h"
#include "report/paper_csv.h"
#include "report/render_table.h"
#include "report/tables_mbn.h"

namespace dmgn::report {
namespace fs = std::filesystem;

namespace {

fs::path paper_dir(const ReportOptions& o) {
  return o.paper_dir.empty() ? fs::path(DMGN_SOURCE_DIR) / "reports" / "paper" : o.paper_dir;
}

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

// Table III: the most recent `bench model` configuration per paper row.
PaperVsOurs build_table3(const store::RunStore& store, const PaperTable& paper, const TableSpec& spec,
                         const ReportOptions& o) {
  for (const char* m : {"gflops", "inference_s"})
    if (std::find(paper.metrics.begin(), paper.metrics.end(), m) == paper.metrics.end())
      throw DataError(fmt::format("{}: table3 needs a '{}' column in the header", paper.file.string(), m));
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
      "papers usually print as GFLOPs; inference = median time per image on the device named in the provenance. "
      "The paper states neither its input size nor its FLOP convention; its times are on a Titan RTX.",
      spec.experiment, o.size, o.size));
  return t;
}

// Table I's loss rows (w/o L_p, w/o L_adv) from runs with random VGG-19 weights: the perceptual
// loss and the hypercolumn head then measure an untrained network's features, so those rows say
// little about the paper's losses. Shown, not hidden, with this note.
void add_loss_ablation_note(PaperVsOurs& t) {
  std::vector<std::string> rows;
  for (const auto& r : t.rows) {
    if (!r.run) continue;
    const auto it = r.run->provenance.find("vgg_weights");
    const bool loss_row = r.label.find("w/o") != std::string::npos || r.label == "Complete losses";
    if (loss_row && it != r.run->provenance.end() && it->second == "random") rows.push_back(r.label);
  }
  if (rows.empty()) return;
  t.notes.push_back(fmt::format(
      "Loss ablation row(s) {} come from runs with RANDOM VGG-19 weights: their perceptual loss (and the "
      "hypercolumn head) measure an untrained network's features, so these rows cannot tell much about the "
      "paper's L_p or about the losses' interplay; train with ImageNet weights (model.head.vgg_weights) to test them.",
      fmt::join(rows, ", ")));
}

// Location-aware SIRR's Tables 1-3 (Dong et al., ICCV 2021): every row a variant of experiment
// "location_sirr" (experiments/location_sirr/*.toml), scored with its release's convention
// (eval.metric = "location_sirr"). Table 1's Average(494) and Tables 2-3's SIR^2 are image-count
// weighted means of the test sets behind them; in the ablations every row is compared with
// "Ours" per image (the paper's numbers put "Ours" on top).
void sirr_table_spec(TableSpec& spec, int n) {
  spec.experiment = "location_sirr";
  spec.source = "the Location-aware SIRR paper (Dong et al., ICCV 2021)";
  const std::vector<std::pair<std::string, double>> sir2 = {{"sir2_postcard", 199}, {"sir2_solid", 200},
                                                            {"sir2_wild", 55}};
  auto all = sir2;
  all.insert(all.end(), {{"real20", 20}, {"nature", 20}});
  spec.metrics = {{"psnr", "PSNR", 3}, {"ssim", "SSIM", 3}};
  if (n == 1) {
    spec.derived = {{"average_494", all}};
    spec.title = "Location-aware SIRR Table 1: real-world benchmarks (PSNR/SSIM), paper vs ours";
    return;
  }
  const std::vector<std::string> rows =
      n == 2 ? std::vector<std::string>{"w/o RDM & TSM", "w/o TSM", "w/o LSTM", "C from I_ft", "MLSM -> SLSM",
                                        "Fix MLSM", "Laplacian -> Edge", "LKI -> RKI", "w/o GC in MLSM"}
             : std::vector<std::string>{"w/o L_pixel", "w/o L_SSIM", "w/o L_P", "w/o L_comp", "w/o L_adv",
                                        "L_C -> L_C^B", "L_C^B & RKI"};
  spec.derived = {{"sir2_all", sir2}};
  spec.title = n == 2 ? "Location-aware SIRR Table 2: network structure ablation (PSNR/SSIM), paper vs ours"
                      : "Location-aware SIRR Table 3: loss ablation (PSNR/SSIM), paper vs ours";
  for (const auto& r : rows) spec.orderings.emplace_back(r, "Ours");
}

// Physics-GAN's tables (Pan et al., TPAMI 2020): Table 5 (synthetic haze) and Table 8 (loss
// ablation on haze) from experiment "physics_gan" (experiments/physics_gan/*.toml), Table 9
// (lambda and ResBlock sweeps on deblurring) from "physics_gan_deblur", whose sweep variants are
// named "lambda=<v>" and "ResBlocks=<n>" (ablations/pgan_table9_*.toml). The paper's "Input"
// is the identity score of the Ours runs' test data. Scored with its release's convention
// (eval.metric "physics_gan").
void pgan_table_spec(TableSpec& spec, int n) {
  spec.source = "the Physics-GAN paper (Pan et al., TPAMI 2020)";
  spec.metrics = {{"psnr", "PSNR", 2}, {"ssim", "SSIM", 4}};
  if (n == 5) {
    spec.experiment = "physics_gan";
    spec.title = "Physics-GAN Table 5: synthetic hazy images (PSNR/SSIM), paper vs ours";
    spec.input_rows = {{"Input", "Ours"}};
  } else if (n == 8) {
    spec.experiment = "physics_gan";
    spec.title = "Physics-GAN Table 8: the physics model and the loss functions on dehazing (PSNR/SSIM), paper vs ours";
    spec.input_rows = {{"Input", "Ours"}};
    for (const char* r : {"BaseGAN", "w/o (8)", "w/o (9)", "w/o (10)", "w/o (8) & (10)"}) spec.orderings.emplace_back(r, "Ours");
  } else {
    spec.experiment = "physics_gan_deblur";
    spec.title = "Physics-GAN Table 9: sensitivity to lambda and to the number of ResBlocks on deblurring (PSNR/SSIM), "
                 "paper vs ours";
  }
}

}  // namespace

const std::vector<std::string>& table_ids() {
  static const std::vector<std::string> ids = {"table1",      "table2",      "table3",      "table5",
                                               "table6",      "table7",      "sirr_table1", "sirr_table2",
                                               "sirr_table3", "pgan_table5", "pgan_table8", "pgan_table9",
                                               "mbn_table1",  "mbn_table2",  "mbn_table3",  "mbn_table4"};
  return ids;
}

TableSpec table_spec(const std::string& id, const ReportOptions& o) {
  TableSpec spec;
  spec.id = id;
  spec.experiment = id;
  spec.metrics = kPsnrSsim;
  spec.sweep = o.sweep;
  spec.dataset_ids = load_dataset_ids(paper_dir(o) / "datasets.csv");
  if (id == "table1") {
    spec.title = "Table I: ablation of DMGN on Real20 and Wild (PSNR/SSIM), paper vs ours";
    spec.variant_of = {{"Complete losses", "DMGN"}};
    spec.orderings = {{"Base model", "RDMC"}, {"RDMC", "R-RDMC"}, {"R-RDMC", "DMGN"}, {"Coarse", "DMGN"}};
  } else if (id == "table2") {
    spec.title = "Table II: reflection removal on Real20, Solid, Postcard and Wild (PSNR/SSIM), paper vs ours";
  } else if (id == "table3") {
    spec.title = "Table III: model complexity (GFLOPs, inference time), paper vs ours";
    spec.metrics = {{"gflops", "GFLOPs/GMACs", 1}, {"inference_s", "Inference (s)", 3}, {"params_m", "Params (M)", 2}};
  } else if (id == "table5") {
    spec.title = "Table V: rain streak removal on Rain100L and Rain100H (PSNR/SSIM), paper vs ours";
    spec.per_column_models = true;
  } else if (id == "table6") {
    spec.title = "Table VI: dehazing on SOTS indoor/outdoor, O-HAZE and TestA-DCPDN (PSNR/SSIM), paper vs ours";
    spec.per_column_models = true;
  } else if (id == "table7") {
    spec.title = "Table VII: cross-task evaluation on Real20, Rain100H and O-HAZE (PSNR/SSIM), paper vs ours";
    const std::vector<std::pair<std::string, std::string>> trained = {
        {"Real20", "reflection"}, {"Rain100H", "rain"}, {"O-HAZE", "haze"}};
    for (const auto& [column, task] : trained) {
      const std::string variant = "DMGN (trained on " + task + ")";
      spec.cell_variant[{"DMGN", column}] = variant;
      spec.extra_rows.push_back(variant);
    }
  } else if (id.rfind("sirr_table", 0) == 0 && id.size() == 11 && id[10] >= '1' && id[10] <= '3') {
    sirr_table_spec(spec, id[10] - '0');
  } else if (id == "pgan_table5" || id == "pgan_table8" || id == "pgan_table9") {
    pgan_table_spec(spec, id[10] - '0');
  } else if (id.rfind("mbn_table", 0) == 0 && id.size() == 10 && id[9] >= '1' && id[9] <= '4') {
    mbn_table_spec(spec, id[9] - '0');
  } else {
    throw ConfigError(fmt::format("unknown table '{}' (known: {})", id, fmt::join(table_ids(), ", ")));
  }
  return spec;
}

PaperVsOurs build_report_table(const store::RunStore& store, const std::string& id, const ReportOptions& o) {
  const TableSpec spec = table_spec(id, o);
  const PaperTable paper = load_paper_csv(paper_dir(o) / (id + ".csv"));
  if (id == "table3") return build_table3(store, paper, spec, o);
  PaperVsOurs t = build_table(store, paper, spec);
  if (id == "table1") add_loss_ablation_note(t);
  if (id == "table7")
    t.notes.insert(t.notes.begin(),
                   "The paper's DMGN row repeats its in-task numbers (Tables II, V, VI); ours is the diagonal: the "
                   "reflection model on Real20, the rain model on Rain100H, the haze model on O-HAZE. The rows "
                   "'DMGN (trained on ...)' are each model on all three benchmarks.");
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

std::string render_table1(const store::RunStore& store, const fs::path& paper_csv, Format fmt) {
  ReportOptions o;
  o.paper_dir = paper_csv.parent_path();
  TableSpec spec = table_spec("table1", o);
  PaperVsOurs t = build_table(store, load_paper_csv(paper_csv), spec);
  add_loss_ablation_note(t);
  return render(t, fmt);
}

}  // namespace dmgn::report
