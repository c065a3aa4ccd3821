// GCANet's registrations: the model, its smallest input, its outputs and its system info. No
// recipe, loss, metric preset or table of its own: it trains with "supervised" (MSE), and its
// row is DMGN's Table VI.
#include "systems/gcanet/register.h"

#include "models/system_info.h"
#include "systems/gcanet/gcanet.h"

namespace dmgn::systems {

void register_gcanet() {
  models::models().add("gcanet",
                       "GCANet (Chen et al. 2019): smoothed dilated residual blocks and gated fusion of three levels "
                       "on the image and its edge channel, residual output",
                       [](const Config& cfg) -> models::ModelPtr { return std::make_shared<models::GcaNet>(cfg); });
  models::register_input_requirement("gcanet", models::gcanet_input_requirement);
  models::register_output_names("gcanet", {"background", "residual"});
  models::SystemInfo info;
  info.names = {"GCANet"};
  info.small = [](const Config&) { return std::vector<std::string>{"model.channels=4"}; };
  models::register_system_info("gcanet", info);
}

}  // namespace dmgn::systems
