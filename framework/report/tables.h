#pragma once
// The paper's tables, paper vs ours, by id (and Location-aware SIRR's: sirr_table1 real-world
// benchmarks, sirr_table2 architecture ablation, sirr_table3 loss ablation; Physics-GAN's:
// pgan_table5 synthetic haze, pgan_table8 loss ablation, pgan_table9 lambda / ResBlocks): table1 (ablation: Real20, Wild), table2
// (reflection: Real20, Solid, Postcard, Wild), table3 (complexity), table5 (rain: Rain100L/H),
// table6 (haze: SOTS indoor/outdoor, O-HAZE, TestA-DCPDN), table7 (cross-task: Real20,
// Rain100H, O-HAZE). Paper numbers: <paper_dir>/<id>.csv, dataset ids <paper_dir>/datasets.csv
// (reports/paper/, see its README). Ours: runs of experiment <id> (paper_table.h), except
// Table III, which reads `dmgn bench model` rows (bench "model", params experiment=table3).
//  - Table I: variant = row label ("Complete losses" shows the DMGN runs); the footer says
//    whether the paper's ordering Base < RDMC < R-RDMC < DMGN, Coarse < DMGN holds for ours.
//  - Tables II, V, VI: our row is "DMGN"; in V and VI each column may come from its own model (Table V's
//    Rain100L and Rain100H models are separate runs).
//  - Table VII: the paper's DMGN row is its in-task numbers, so ours is the diagonal
//    (variant "DMGN (trained on reflection)" on Real20, "... rain" on Rain100H, "... haze" on
//    O-HAZE); the three models' full cross-task rows follow as rows of ours only.
//  - Table III: GFLOPs (paper) beside our GMACs (multiply-accumulates, what papers usually
//    call FLOPs) at `size`, inference seconds per image at `size` on the benchmarked device,
//    and parameters (M).
#include <filesystem>
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
};

const std::vector<std::string>& table_ids();  // table1, table2, table3, table5, table6, table7

// The spec of a table (throws ConfigError naming the id and the known ones).
TableSpec table_spec(const std::string& id, const ReportOptions& options = {});

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
