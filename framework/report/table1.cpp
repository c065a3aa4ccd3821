#include "report/table1.h"

#include "report/paper_csv.h"
#include "report/render_table.h"

namespace dmgn::report {

TableSpec table1_spec() {
  TableSpec spec;
  spec.id = "table1";
  spec.title = "Table I: ablation of DMGN on Real20 and Wild (PSNR/SSIM), paper vs ours";
  spec.experiment = "table1";
  spec.variant_of = {{"Complete losses", "DMGN"}};
  spec.metrics = {{"psnr", "PSNR", 2}, {"ssim", "SSIM", 3}};
  spec.split = "test";
  return spec;
}

std::string render_table1(const store::RunStore& store, const std::filesystem::path& paper_csv,
                          Format fmt) {
  return render(build_table(store, load_paper_csv(paper_csv), table1_spec()), fmt);
}

}  // namespace dmgn::report
