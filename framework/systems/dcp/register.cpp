// The dark channel prior's registrations: the model, its outputs, and its system info (display
// name "DCP", training-free, haze only). No recipe, loss, metric preset or table of its own.
#include "systems/dcp/register.h"

#include "models/system_info.h"
#include "systems/dcp/dcp.h"

namespace dmgn::systems {

void register_dcp() {
  models::models().add("dcp",
                       "Dark channel prior (He et al. 2009) with guided-filter refinement: training-free dehazing "
                       "(dmgn train evaluates it as built; dmgn eval --config scores it)",
                       [](const Config& cfg) -> models::ModelPtr {
                         return std::make_shared<models::DarkChannelPrior>(cfg);
                       });
  models::register_input_requirement("dcp", [](const Config&) {
    models::InputRequirement r;
    r.why = "dcp: per-pixel operations and windows truncated at the border: any size";
    return r;
  });
  models::register_output_names("dcp", {"background", "transmission", "airlight"});
  models::SystemInfo info;
  info.names = {"DCP"};
  info.training_free = true;
  info.cannot_run = [](const std::string&, const std::string& task) -> std::string {
    if (task == "haze") return "";
    return "cannot run: the dark channel prior inverts the haze model I = J t + A (1 - t), not " + task;
  };
  models::register_system_info("dcp", info);
}

}  // namespace dmgn::systems
