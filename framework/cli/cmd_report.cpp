// dmgn report table1|table2|table3|table4 (cmd_study.cpp)|table5|table6|table7|sirr_table*|pgan_table*|mbn_table*|systems|fig6|
// sensitivity|curves|qualitative|masks, dmgn visualize
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>

#include "cli/commands.h"
#include "core/error.h"
#include "core/log.h"
#include "data/benchmarks.h"
#include "models/model.h"
#include "report/format.h"
#include "report/render_table.h"
#include "report/tables.h"
#include "store/run_store.h"
#include "train/checkpoint.h"
#include "train/evaluate.h"
#include "train/trainer.h"
#include "train/visualize.h"

namespace dmgn::cli {
namespace fs = std::filesystem;

namespace {

// DMGN_PYTHON, else Debian's interpreter (the one with python3-matplotlib), else python3.
std::string python() {
  if (const char* p = std::getenv("DMGN_PYTHON"); p && *p) return p;
  return fs::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
}

// Runs reports/figures/<script> with `args`; its stdout/stderr pass through. Throws on failure.
void run_figure_script(const std::string& script, const std::vector<std::string>& args) {
  const fs::path file = fs::path(DMGN_SOURCE_DIR) / "reports" / "figures" / script;
  if (!fs::exists(file)) throw IoError(fmt::format("figure script '{}' is missing", file.string()));
  const std::string py = python();
  std::vector<std::string> argv_s{py, file.string()};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t pid = ::fork();
  if (pid < 0) throw IoError("cannot start " + py);
  if (pid == 0) {
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execvp(py.c_str(), argv.data());
    std::fprintf(stderr, "dmgn: cannot run %s (set DMGN_PYTHON to a Python 3 with matplotlib)\n", py.c_str());
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw Error(fmt::format("{} failed ({}); see its message above", file.filename().string(),
                            WIFEXITED(status) ? fmt::format("exit code {}", WEXITSTATUS(status))
                                              : fmt::format("signal {}", WTERMSIG(status))));
}

struct FigureArgs {
  std::string out, experiment, variant, sweep, dataset;  // out "" = <output root>/reports/figures
  std::string config;                                    // over each checkpoint's config (--config)
  std::vector<std::string> sets;                         // and --set on it
  std::vector<int64_t> runs;
  int64_t count = 4;
};

// Fixed y ranges of the PSNR / SSIM panels (the default fits the data: a 0.04 dB spread would
// fill the panel).
struct FigureRanges {
  std::vector<double> psnr, ssim;
  void append_to(std::vector<std::string>& args) const {
    for (const auto& [flag, r] : {std::pair{"--psnr-range", &psnr}, std::pair{"--ssim-range", &ssim}})
      if (!r->empty()) args.insert(args.end(), {flag, fmt::format("{}", (*r)[0]), fmt::format("{}", (*r)[1])});
  }
};

void add_figure_ranges(CLI::App* c, FigureRanges& r) {
  c->add_option("--psnr-range", r.psnr, "Fixed PSNR axis: LO HI (dB)")->expected(2);
  c->add_option("--ssim-range", r.ssim, "Fixed SSIM axis: LO HI")->expected(2);
}

void add_selection(CLI::App* c, FigureArgs& a, const std::string& default_experiment) {
  a.experiment = default_experiment;
  add_output_options(c);
  c->add_option("--out", a.out, "Folder for the PNG / PDF files (default: <output root>/reports/figures)");
  c->add_option("--experiment", a.experiment, "Runs of this experiment");
  c->add_option("--sweep", a.sweep, "Runs of this sweep");
  c->add_option("--run", a.runs, "These run ids (repeatable)");
}

// --out, else <output root>/reports/figures (docs/outputs.md).
std::string figure_out(const FigureArgs& a) {
  return a.out.empty() ? (output_root() / "reports" / "figures").string() : a.out;
}

std::vector<std::string> selection_args(const FigureArgs& a) {
  std::vector<std::string> v{"--store", store_path(), "--out", figure_out(a)};
  if (a.runs.empty() && !a.experiment.empty()) v.insert(v.end(), {"--experiment", a.experiment});
  if (!a.sweep.empty()) v.insert(v.end(), {"--sweep", a.sweep});
  for (int64_t r : a.runs) v.insert(v.end(), {"--run", std::to_string(r)});
  return v;
}

// The runs to visualise: --run ids, else the latest completed run per variant of the filter.
std::vector<store::RunRow> runs_to_dump(const store::RunStore& store, const FigureArgs& a) {
  std::vector<store::RunRow> out;
  if (!a.runs.empty()) {
    for (int64_t id : a.runs) {
      auto r = store.run(id);
      if (!r) throw ConfigError(fmt::format("--run {}: no such run in {}", id, store.path().string()));
      out.push_back(*r);
    }
    return out;
  }
  store::RunFilter f;
  f.experiment = a.experiment;
  f.variant = a.variant;
  f.sweep = a.sweep;
  f.status = "completed";
  std::map<std::string, store::RunRow> latest;
  std::vector<std::string> order;
  for (const auto& r : store.runs(f)) {
    if (!latest.count(r.variant)) order.push_back(r.variant);
    latest[r.variant] = r;
  }
  for (const auto& v : order) out.push_back(latest[v]);
  if (out.empty())
    throw ConfigError(fmt::format("no completed runs in {} match experiment '{}'{}{}", store.path().string(),
                                  a.experiment, a.variant.empty() ? "" : fmt::format(", variant '{}'", a.variant),
                                  a.sweep.empty() ? "" : fmt::format(", sweep '{}'", a.sweep)));
  return out;
}

struct Dump {
  fs::path dir;
  bool has_masks = false;
};

Dump dump_checkpoint(const fs::path& ckpt, const std::string& dataset, int64_t count, const fs::path& dir,
                     int64_t run_id, const std::string& overlay = "", const std::vector<std::string>& sets = {}) {
  const auto meta = train::read_checkpoint_meta(ckpt);
  Config cfg = Config::from_canonical(meta.config_text);
  if (!overlay.empty()) cfg.overlay(overlay);
  for (const auto& s : sets) cfg.set(s);
  train::apply_threads(cfg);
  const auto device = train::runtime_device(cfg);
  const std::string name = dataset.empty() ? cfg.get_strings("data.test").front() : dataset;
  const auto ds = train::open_for_model(cfg, name, data::Split::heldout);
  auto model = models::build_model(cfg);
  train::load_checkpoint(ckpt, dmgn::train::CheckpointParts::weights(model.get()));
  model->to(device);
  train::DumpOptions o;
  o.dir = dir;
  o.count = count;
  o.device = device;
  o.checkpoint = fs::absolute(ckpt).string();
  o.variant = cfg.get_string("run.variant");
  o.run_id = run_id;
  o.step = meta.step;
  train::dump_outputs(*model, *ds, train::metric_preset(cfg, *ds), o);
  std::printf("dumped %lld sample(s) of %s from %s (step %lld) to %s\n", static_cast<long long>(count),
              ds->name().c_str(), ckpt.string().c_str(), static_cast<long long>(meta.step), dir.string().c_str());
  return {dir, fs::exists(dir / "000_mask_coarse_00.png")};
}

std::vector<Dump> dump_runs(const FigureArgs& a) {
  const store::RunStore store = open_existing_store(store_path());
  std::vector<Dump> dumps;
  for (const auto& r : runs_to_dump(store, a)) {
    const auto ckpt = train::latest_checkpoint(fs::path(r.run_dir) / "checkpoints");
    if (!ckpt) throw IoError(fmt::format("run {} has no checkpoint under {}/checkpoints", r.id, r.run_dir));
    dumps.push_back(dump_checkpoint(*ckpt, a.dataset, a.count,
                                    fs::path(figure_out(a)) / "dumps" / fmt::format("run{}", r.id), r.id, a.config,
                                    a.sets));
  }
  return dumps;
}

// Keeps what a regenerated table was computed from (runs, provenance, paired verdicts).
void record_report(store::RunStore& store, const report::PaperVsOurs& table, const std::string& id,
                   const report::ReportOptions& o) {
  auto rec = report::report_record(table, id, o);
  rec.git_revision = git_revision();
  const auto rid = store.log_report(rec);
  log::info(fmt::format("recorded as report {} in {} ({} paired verdict(s); `dmgn reports` lists them)", rid,
                        store.path().string(), rec.verdicts.size()));
}

void add_table(CLI::App* report, const std::string& id, const std::string& help) {
  auto* c = report->add_subcommand(id, help);
  struct Args {
    std::string format = "markdown", out, paper_dir, sweep;
    int64_t size = 256;
    bool no_record = false, with_evals = false;
  };
  auto a = std::make_shared<Args>();
  add_output_options(c);
  c->add_option("--format", a->format, "markdown | csv | latex")
      ->check(CLI::IsMember({"markdown", "md", "csv", "latex", "tex"}));
  c->add_option("--out", a->out, "Write to this file instead of stdout");
  c->add_flag("--with-evals", a->with_evals,
              "Also show the runs' `dmgn eval` results on other datasets (default: each run's own test only)");
  c->add_option("--paper-dir", a->paper_dir, "Paper numbers folder (default: the table's system's paper/ folder)");
  c->add_option("--sweep", a->sweep, "Only runs of this sweep");
  c->add_flag("--no-record", a->no_record,
              "Do not record the report (its runs, provenance and paired verdicts) in the store");
  if (report::table_def(id).sized)  // a complexity table (Table III): its input size
    c->add_option("--size", a->size, "Input size of the MACs and latency shown")
        ->check(within(16, 4096, "as dmgn info --size"));
  c->callback([a, id] {
    report::ReportOptions o;
    o.paper_dir = a->paper_dir;
    o.sweep = a->sweep;
    o.size = a->size;
    o.with_evals = a->with_evals;
    bool record = !a->no_record;
    store::RunStore store = open_report_store(store_path(), record);
    const report::PaperVsOurs table = report::build_report_table(store, id, o);
    const std::string text = report::render(table, report::parse_format(a->format));
    emit_report(text, a->out);
    if (record) record_report(store, table, id, o);
  });
}

}  // namespace

void add_report(CLI::App& app) {
  auto* cmd = app.add_subcommand("report", "Regenerate a paper table or figure from the run store");
  cmd->require_subcommand(1);
  // One subcommand per registered table (report/tables.h), in registration order.
  for (const auto& id : report::table_ids_all()) {
    const report::TableDef& def = report::table_def(id);
    if (def.from_study)
      add_study_table(cmd, id, def.help);
    else
      add_table(cmd, id, def.help);
  }
  add_cross_system(cmd);
  add_systems(cmd);
  {
    auto* c = cmd->add_subcommand("fig6", "Fig. 6: PSNR/SSIM vs the loss weights alpha_p and alpha_adv (PNG, PDF, CSV)");
    static FigureArgs a;
    add_selection(c, a, "fig6");
    c->add_option("--dataset", a.dataset, "Test dataset to plot (default: the one with the most runs)");
    static bool input_baseline = false;
    static FigureRanges ranges;
    c->add_flag("--input-baseline", input_baseline, "Also draw the input (identity) scores");
    add_figure_ranges(c, ranges);
    c->callback([] {
      auto args = selection_args(a);
      if (!a.dataset.empty()) args.insert(args.end(), {"--dataset", a.dataset});
      if (input_baseline) args.push_back("--input-baseline");
      ranges.append_to(args);
      run_figure_script("fig6.py", args);
    });
  }
  {
    auto* c = cmd->add_subcommand("sensitivity",
                                  "PSNR/SSIM vs one numeric config key over a sweep's runs, the paper's numbers on a "
                                  "twin axis (PNG, PDF, CSV): e.g. Physics-GAN Table 9's lambda and ResBlocks");
    struct Sens {
      FigureArgs a;
      std::string key, xlabel, xscale = "linear", paper_csv, paper_prefix, stem = "sensitivity", title;
      std::optional<double> mark;
      bool input_baseline = false;
      std::string by;
      FigureRanges ranges;
    };
    auto s = std::make_shared<Sens>();
    add_selection(c, s->a, "");
    c->add_option("--key", s->key, "Dotted numeric config key on the x axis (e.g. loss.terms.content.weight)")
        ->required();
    c->add_option("--xlabel", s->xlabel, "x axis label (default: the key)");
    c->add_option("--xscale", s->xscale, "linear | log")->check(CLI::IsMember({"linear", "log"}));
    c->add_option("--dataset", s->a.dataset, "Test dataset to plot (default: the one with the most runs)");
    c->add_option("--paper-csv", s->paper_csv, "Paper numbers (reports/paper/*.csv) drawn on a twin axis");
    c->add_option("--paper-prefix", s->paper_prefix, "With --paper-csv: rows named PREFIX<value> (e.g. lambda=)");
    c->add_option("--mark", s->mark, "Mark the paper's chosen value with a vertical line");
    c->add_flag("--input-baseline", s->input_baseline, "Also draw the input (identity) scores");
    c->add_option("--stem", s->stem, "File stem");
    c->add_option("--title", s->title, "Figure title");
    c->add_option("--by", s->by, "A second config key of a 2-D sweep: one curve per value of it");
    add_figure_ranges(c, s->ranges);
    c->callback([s] {
      auto args = selection_args(s->a);
      args.insert(args.end(), {"--key", s->key, "--xscale", s->xscale, "--stem", s->stem});
      if (!s->xlabel.empty()) args.insert(args.end(), {"--xlabel", s->xlabel});
      if (!s->a.dataset.empty()) args.insert(args.end(), {"--dataset", s->a.dataset});
      if (!s->paper_csv.empty()) args.insert(args.end(), {"--paper-csv", s->paper_csv});
      if (!s->paper_prefix.empty()) args.insert(args.end(), {"--paper-prefix", s->paper_prefix});
      if (s->mark) args.insert(args.end(), {"--mark", fmt::format("{}", *s->mark)});
      if (s->input_baseline) args.push_back("--input-baseline");
      if (!s->title.empty()) args.insert(args.end(), {"--title", s->title});
      if (!s->by.empty()) args.insert(args.end(), {"--by", s->by});
      s->ranges.append_to(args);
      run_figure_script("sensitivity.py", args);
    });
  }
  {
    auto* c = cmd->add_subcommand("curves", "Training and validation curves per run (PNG, PDF)");
    static FigureArgs a;
    add_selection(c, a, "");
    c->callback([] { run_figure_script("curves.py", selection_args(a)); });
  }
  for (const std::string kind : {"qualitative", "masks"}) {
    auto* c = cmd->add_subcommand(
        kind, kind == "qualitative"
                  ? "Qualitative grids (input, coarse, refined, noise layer, ground truth) of runs' latest checkpoints"
                  : "RDMC mask evolution (Fig. 1) of runs' latest checkpoints");
    auto a = std::make_shared<FigureArgs>();
    add_selection(c, *a, "table1");
    c->add_option("--variant", a->variant, "Only this variant (default: the latest run of every variant)");
    c->add_option("--dataset", a->dataset, "Dataset to draw samples from (default: the run's first data.test)");
    c->add_option("--config", a->config, "A TOML file over each run's config (e.g. [datasets.mine])")
        ->check(CLI::ExistingFile);
    c->add_option("--set", a->sets, "Override key.path=value on each run's config (repeatable)");
    c->add_option("--count", a->count, "Samples per run")
        ->check(within(1, 10000, "every sample's images are drawn into the figure"));
    c->callback([a, kind] {
      std::vector<std::string> args{"--out", figure_out(*a)};
      int with_masks = 0;
      for (const auto& d : dump_runs(*a)) {
        if (kind == "masks" && !d.has_masks) {
          std::printf("skipping %s: the model has no RDMC masks (plain cells)\n", d.dir.string().c_str());
          continue;
        }
        ++with_masks;
        args.insert(args.end(), {"--dump", d.dir.string()});
      }
      if (kind == "masks" && with_masks == 0) throw DataError("none of the selected runs has RDMC masks");
      run_figure_script(kind + ".py", args);
    });
  }
}

void add_visualize(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "visualize", "Dump a checkpoint's input / coarse / refined / noise / ground truth and RDMC masks as PNGs + manifest.json");
  static std::string ckpt, dataset, out, overlay;
  static std::vector<std::string> sets;
  static int64_t count = 4;
  cmd->add_option("checkpoint", ckpt, "Checkpoint")->required();
  cmd->add_option("--dataset", dataset, "Dataset (default: the config's first data.test)");
  cmd->add_option("--config", overlay, "A TOML file over the checkpoint's config (e.g. [datasets.mine])")
      ->check(CLI::ExistingFile);
  cmd->add_option("--set", sets, "Override key.path=value on the checkpoint's config (repeatable)");
  cmd->add_option("--count", count, "Samples")
      ->check(within(1, 100000, "each sample's images and masks are written as PNGs"));
  cmd->add_option("--out", out, "Output folder")->required();
  add_output_options(cmd);
  cmd->callback([] {
    int64_t run_id = 0;
    const auto meta = train::read_checkpoint_meta(ckpt);
    const Config cfg = Config::from_canonical(meta.config_text);
    const std::string sf = store_path(&cfg);  // to find the checkpoint's run
    if (fs::exists(sf))
      if (const auto r = store::RunStore(sf, store::RunStore::Access::read_only).run_of_checkpoint(ckpt)) run_id = r->id;
    dump_checkpoint(ckpt, dataset, count, out, run_id, overlay, sets);
    const fs::path manifest = fs::absolute(fs::path(out) / "manifest.json");
    std::printf("wrote %s\n", manifest.string().c_str());
    if (run_id == 0) return;
    try {  // the run's page on `dmgn board` shows its dumps
      store::RunStore(sf).add_artifact(run_id, "visualize", manifest.lexically_normal().string());
    } catch (const std::exception& e) {
      log::warn(fmt::format("the dump is not recorded with run {} (dmgn board will not show it): {}", run_id, e.what()));
    }
  });
}

}  // namespace dmgn::cli
