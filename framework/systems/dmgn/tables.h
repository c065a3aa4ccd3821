#pragma once
// DMGN's Tables I-VII (the DMGN paper), registered in the report table registry
// (report/tables.h); paper numbers in framework/systems/dmgn/paper/ (its README):
//  - Table I: variant = row label ("Complete losses" shows the DMGN runs); the footer says
//    whether the paper's ordering Base < RDMC < R-RDMC < DMGN, Coarse < DMGN holds for ours.
//  - Tables II, V, VI: our rows are the paper's method names (DMGN, and any baseline of the
//    registry run with that variant, e.g. ERRNet); in V and VI each column may come from its own
//    model (Table V's Rain100L and Rain100H models are separate runs).
//  - Table III: GFLOPs (paper) beside our GMACs at `size`, inference seconds per image, and
//    parameters (M), from `dmgn bench model` rows (report::build_complexity_table).
//  - Table IV: the human study (report/table4.h, `dmgn report table4 --study NAME`).
//  - Table VII: the paper's DMGN row is its in-task numbers, so ours is the diagonal
//    (variant "DMGN (trained on reflection)" on Real20, "... rain" on Rain100H, "... haze" on
//    O-HAZE); the three models' full cross-task rows follow as rows of ours only.
#include <filesystem>
#include <string>

#include "report/format.h"
#include "store/run_store.h"

namespace dmgn::systems {
void register_dmgn_tables();
}  // namespace dmgn::systems

namespace dmgn::report {
// Table I from an explicit paper CSV (kept for tests and --paper).
std::string render_table1(const store::RunStore& store, const std::filesystem::path& paper_csv, Format fmt);
}  // namespace dmgn::report
