// IBCLN's registrations: the model, its smallest input and outputs, its recipe, and its system info (display name "IBCLN"). No metric preset or tables of its own: its
// rows are DMGN's Tables II-IV (run.variant "IBCLN", a study method "IBCLN").
#include "systems/ibcln/register.h"

#include "models/system_info.h"
#include "systems/ibcln/ibcln.h"

namespace dmgn::train {
void register_ibcln_recipe();  // systems/ibcln/recipe_ibcln.cpp
}  // namespace dmgn::train

namespace dmgn::systems {

void register_ibcln() {
  models::models().add("ibcln",
                       "IBCLN (Li et al. 2020): two LSTM generators (G_T, G_R) refining T and R over 3 iterations; "
                       "trained by its recipe (ibcln) with an LSGAN PatchGAN",
                       [](const Config& cfg) -> models::ModelPtr { return std::make_shared<models::Ibcln>(cfg); });
  models::register_input_requirement("ibcln", models::ibcln_input_requirement);
  models::register_output_names("ibcln", {"background", "reflection", "transmissions", "reflections",
                                          "background_half", "background_quarter", "layers"});
  train::register_ibcln_recipe();
  models::SystemInfo info;
  info.names = {"IBCLN"};
  // Test size: the generators' widths are the reference's own (fixed there); one iteration.
  info.small = [](const Config&) {
    return std::vector<std::string>{"model.vgg_weights=\"\"", "model.iterations=1", "discriminator.ndf=4"};
  };
  models::register_system_info("ibcln", info);
}

}  // namespace dmgn::systems
