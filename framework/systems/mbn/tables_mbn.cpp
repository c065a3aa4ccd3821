#include "systems/mbn/tables_mbn.h"

#include "report/tables.h"
#include "systems/mbn/register.h"

namespace dmgn::report {

void mbn_table_spec(TableSpec& spec, int n) {
  spec.source = "the MBN paper (Deng et al., multi-branch recurrent network)";
  spec.metrics = {{"psnr", "PSNR", 2}, {"ssim", "SSIM", 4}};
  if (n == 1) {
    spec.experiment = "mbn_table1";
    spec.title = "MBN Table 1: DuRB-M ablation (TV, GAP, Fusion) on four degradations (PSNR/SSIM), paper vs ours";
    for (const char* r : {"none", "TV", "GAP", "Fusion"}) spec.orderings.emplace_back(r, "MBN");
  } else if (n == 2) {
    spec.experiment = "mbn_table2";
    spec.title = "MBN Table 2: order of the factors in R-MBN's recurrent path (mean PSNR/SSIM over the tasks), "
                 "paper vs ours";
    const std::vector<std::pair<std::string, double>> bhr = {
        {"multitask/blur", 1}, {"multitask/haze", 1}, {"multitask/rain", 1}};
    auto bhrj = bhr;
    bhrj.emplace_back("multitask/jpeg", 1);
    spec.derived = {{"mbn_average_bhr", bhr}, {"mbn_average_bhrj", bhrj}};
  } else if (n == 3) {
    spec.experiment = "mbn";
    spec.title = "MBN Table 3: single-factor removal, MBN and R-MBN (PSNR/SSIM), paper vs ours";
    spec.input_rows = {{"Input", "MBN"}};
    spec.orderings = {{"R-MBN", "MBN"}};
  } else {
    spec.experiment = "mbn_table4";
    spec.title = "MBN Table 4: restoration from mixed degradations (PSNR/SSIM), paper vs ours";
    spec.input_rows = {{"Input", "R-MBN"}};
  }
}

}  // namespace dmgn::report

namespace dmgn::systems {

void register_mbn_tables() {
  const std::vector<std::pair<int, std::string>> tables = {
      {1, "MBN Table 1: DuRB-M ablation (TV, GAP, Fusion) on four degradations"},
      {2, "MBN Table 2: order of the factors in R-MBN's recurrent path (mean over tasks)"},
      {3, "MBN Table 3: MBN and R-MBN on motion blur, haze, rain streaks, JPEG (q=10)"},
      {4, "MBN Table 4: R-MBN and R-MBN* on mixed degradations (16 test sets)"}};
  for (const auto& [n, help] : tables) {
    report::TableDef d;
    d.id = "mbn_table" + std::to_string(n);
    d.help = help;
    d.paper_dir = "framework/systems/mbn/paper";
    d.spec = [n = n](report::TableSpec& s, const report::ReportOptions&) { report::mbn_table_spec(s, n); };
    report::register_table(d);
  }
}

}  // namespace dmgn::systems
