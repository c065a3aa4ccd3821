// MBN / R-MBN's registrations (Deng et al.): the model (one stem, per-task branches; recurrent
// mode = R-MBN), its joint recipe, its test scripts' metric conventions (the default of JPEG and
// mixtures), Tables 1-4 and its two display names.
#include "systems/mbn/register.h"

#include "metrics/spec.h"
#include "models/system_info.h"
#include "systems/mbn/mbn.h"

namespace dmgn::train {
void register_mbn_recipe();  // systems/mbn/recipe_mbn.cpp
}  // namespace dmgn::train

namespace dmgn::systems {

void register_mbn() {
  using namespace dmgn::models;
  models::models().add("mbn",
                       "MBN / R-MBN (Deng et al.): one DuRB-M stem between per-task input and output branches (rain, "
                       "blur, JPEG, haze); model.mode = recurrent chains them (R-MBN); Table 1's ablations by config",
                       [](const Config& cfg) -> ModelPtr { return std::make_shared<Mbn>(cfg); });
  register_input_requirement("mbn", mbn_input_requirement);
  // R-MBN: "stage_<task>" per stage of model.order.
  register_output_names("mbn", {"background", "scales", "stages", "intermediate", "stage_*"});
  train::register_mbn_recipe();
  // MBN's test_MBN.py / test_RMBN.py: x255 in float32 then astype(uint8) on output and ground
  // truth, cv2's full-range Y for blur / rain / JPEG, skimage 0.x compare_psnr / compare_ssim
  // defaults; on haze and mixtures the scripts score RGB (multichannel=True): mbn_rgb.
  metrics::Preset mbn;
  mbn.spec.quantise = true;
  mbn.spec.truncate = true;
  mbn.spec.color = metrics::Spec::Color::y_full;
  mbn.spec.window = metrics::Spec::Window::uniform;
  mbn.spec.window_size = 7;
  mbn.spec.sample_covariance = true;
  mbn.default_for = {"jpeg"};
  mbn.on_task = {{"haze", "mbn_rgb"}, {"mixed", "mbn_rgb"}};
  mbn.paper = "MBN";
  metrics::register_preset("mbn", "MBN's test scripts: truncated uint8, full-range Y, skimage 0.x defaults", mbn);
  metrics::Preset rgb = mbn;
  rgb.spec.color = metrics::Spec::Color::rgb;
  rgb.default_for = {"mixed"};
  rgb.on_task.clear();
  metrics::register_preset("mbn_rgb", "as mbn on every RGB channel (its haze and mixture scripts)", rgb);
  register_mbn_tables();
  SystemInfo info;
  info.names = {"MBN", "R-MBN"};
  info.name_of = [](const Config& cfg) { return cfg.get_string("model.mode") == "recurrent" ? "R-MBN" : "MBN"; };
  info.cannot_run = [](const std::string& name, const std::string& task) -> std::string {
    if (name == "MBN" && task == "reflection") return "cannot run: MBN has no reflection branch";
    if (name == "MBN" && task == "mixed")
      return "cannot run: MBN needs the degradation's task to pick a branch (R-MBN takes mixtures)";
    if (name == "R-MBN" && task == "reflection") return "cannot run: R-MBN's chain has no reflection stage";
    return "";
  };
  // The reference's widths are fixed; one rain pass.
  info.small = [](const Config&) { return std::vector<std::string>{"model.rain_iterations=1"}; };
  register_system_info("mbn", info);
}

}  // namespace dmgn::systems
