#pragma once
// The papers' tables, paper vs ours, by id: a registry (kind "table") filled by the system that
// owns each table (framework/systems/<name>/tables*.cpp: DMGN's table1-table7, Location-aware
// SIRR's sirr_table1-3, Physics-GAN's pgan_table5/8/9, MBN's mbn_table1-4). A table's paper
// numbers are <paper dir>/<id>.csv, its paper dir the system's framework/systems/<name>/paper/
// (ReportOptions::paper_dir overrides it); its dataset names map to store ids through
// reports/paper/datasets.csv (the shared benchmarks) and the paper dir's own datasets.csv.
// Ours: runs of the table's experiment (paper_table.h), or whatever its `build` reads (Table
// III: `dmgn bench model` rows, build_complexity_table). `dmgn report <id>` is made for each.
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "report/format.h"
#include "report/paper_table.h"
#include "store/run_store.h"

namespace dmgn::report {

struct ReportOptions {
  std::filesystem::path paper_dir;  // default: reports/paper/ of the source tree
  std::string sweep;                // only runs of this sweep
  int64_t size = 256;               // Table III: input size of MACs and latency
  // Also the runs' other evaluations (`dmgn eval`; paper_table.h TableSpec::with_evals).
  bool with_evals = false;
};

struct TableDef {
  std::string id;
  std::string help;  // one line for `dmgn report --help` and `dmgn list table`
  // The folder of its paper CSVs, relative to the source tree ("framework/systems/dmgn/paper").
  std::filesystem::path paper_dir;
  // Fills the spec (id, experiment = id, PSNR/SSIM, sweep and dataset ids are set before).
  std::function<void(TableSpec&, const ReportOptions&)> spec;
  // Optional: builds the table itself instead of build_table (paper_table.h).
  std::function<PaperVsOurs(const store::RunStore&, const PaperTable&, const TableSpec&, const ReportOptions&)> build;
  // Optional: after building (footnotes).
  std::function<void(PaperVsOurs&)> finish;
  // Built from a human study, not from runs (`dmgn report table4 --study`): no table_spec.
  bool from_study = false;
  // Reads ReportOptions::size (a complexity table's input size): `dmgn report <id> --size`.
  bool sized = false;
};

// Registers a table (re-registering an id replaces it).
void register_table(TableDef def);
// The registered tables built from runs or benches, in registration order (not the study ones).
std::vector<std::string> table_ids();
// Every registered table, study ones included, in registration order.
std::vector<std::string> table_ids_all();
// A registered table (ConfigError naming the known ids otherwise).
const TableDef& table_def(const std::string& id);
// The folder holding id's paper CSV: options.paper_dir when set, else its registered one.
std::filesystem::path paper_dir_of(const std::string& id, const ReportOptions& options = {});

// The spec of a table (throws ConfigError naming the id and the known ones).
TableSpec table_spec(const std::string& id, const ReportOptions& options = {});

// A complexity table (DMGN's Table III): per paper row, the latest `dmgn bench model`
// configuration with params experiment=<spec.experiment> and variant=<row>: GMACs, seconds per
// image and parameters at options.size (a TableDef::build).
PaperVsOurs build_complexity_table(const store::RunStore& store, const PaperTable& paper, const TableSpec& spec,
                                   const ReportOptions& options);

// The PSNR/SSIM columns most tables show.
const std::vector<MetricSpec>& psnr_ssim_metrics();

PaperVsOurs build_report_table(const store::RunStore& store, const std::string& id,
                               const ReportOptions& options = {});

std::string render_report_table(const store::RunStore& store, const std::string& id, Format fmt,
                                const ReportOptions& options = {});

// What the store keeps of a regenerated table (RunStore::log_report): its id and sweep, the runs
// behind it, its provenance (per row the runs and seeds, then the footer notes) and its paired
// verdicts (comparisons without per-image scores as verdict "not computed"). The caller sets
// git_revision.
store::ReportRecord report_record(const PaperVsOurs& table, const std::string& id, const ReportOptions& options = {});

// Table I from an explicit paper CSV (kept for tests and --paper).
std::string render_table1(const store::RunStore& store, const std::filesystem::path& paper_csv, Format fmt);

}  // namespace dmgn::report
