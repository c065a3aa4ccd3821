// Physics-GAN's Tables 5, 8 and 9 (report/tables.h registry); paper numbers in
// framework/systems/physics_gan/paper/.
#include "systems/physics_gan/register.h"

#include "report/tables.h"

namespace dmgn::report {
namespace {

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
}  // namespace dmgn::report

namespace dmgn::systems {

void register_physics_gan_tables() {
  using report::TableDef;
  const std::vector<std::pair<int, std::string>> tables = {
      {5, "Physics-GAN Table 5: synthetic haze (Input and Ours)"},
      {8, "Physics-GAN Table 8: BaseGAN and loss ablation on haze (each row a config)"},
      {9, "Physics-GAN Table 9: lambda and ResBlock count on deblurring (sweep variants)"}};
  for (const auto& [n, help] : tables) {
    TableDef d;
    d.id = "pgan_table" + std::to_string(n);
    d.help = help;
    d.paper_dir = "framework/systems/physics_gan/paper";
    d.spec = [n = n](report::TableSpec& s, const report::ReportOptions&) { report::pgan_table_spec(s, n); };
    report::register_table(d);
  }
}

}  // namespace dmgn::systems
