#pragma once
// Table I of the DMGN paper (ablation on Real20 and Wild, PSNR/SSIM), paper vs ours.
// Paper numbers: reports/paper/table1.csv. Ours: the most recent completed run with
// experiment "table1" and variant == the paper's row label ("Complete losses" is the DMGN
// model and shows the "DMGN" run); test-split metrics "psnr" (2 decimals) and "ssim"
// (3 decimals) on dataset "real20" / "wild", plus an extra column per other dataset those
// runs were tested on (e.g. "builtin"). See paper_table.h for the rules.
#include <filesystem>
#include <string>

#include "report/format.h"
#include "report/paper_table.h"
#include "store/run_store.h"

namespace dmgn::report {

inline constexpr const char* kTable1Csv = "reports/paper/table1.csv";

TableSpec table1_spec();

std::string render_table1(const store::RunStore& store, const std::filesystem::path& paper_csv,
                          Format fmt);

}  // namespace dmgn::report
