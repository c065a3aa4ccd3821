// PReNet's registrations: the model, its outputs and its system info (display names PReNet,
// PReNet_r, PRN, PRN_r by model.lstm / model.shared_block; deraining only). No recipe, loss,
// metric preset or table of its own: it trains with "supervised", and its row is DMGN's Table V.
#include "systems/prenet/register.h"

#include "models/system_info.h"
#include "systems/prenet/prenet.h"

namespace dmgn::systems {

void register_prenet() {
  models::models().add("prenet",
                       "PReNet (Ren et al. 2019): 6 recurrent stages of conv, ConvLSTM, 5 residual blocks and a "
                       "residual output, weights shared across stages (PReNet_r / PRN / PRN_r by keys)",
                       [](const Config& cfg) -> models::ModelPtr { return std::make_shared<models::PReNet>(cfg); });
  models::register_input_requirement("prenet", [](const Config&) {
    models::InputRequirement r;
    r.why = "prenet: 3x3 convolutions at full resolution, zero-padded: any size";
    return r;
  });
  models::register_output_names("prenet", {"background", "stages"});
  models::SystemInfo info;
  info.names = {"PReNet", "PReNet_r", "PRN", "PRN_r"};
  info.name_of = [](const Config& cfg) {
    return models::PReNet::variant_name(cfg.get_bool("model.lstm"), cfg.get_bool("model.shared_block"));
  };
  info.small = [](const Config&) {
    return std::vector<std::string>{"model.channels=4", "model.stages=2", "model.blocks=2"};
  };
  models::register_system_info("prenet", info);
}

}  // namespace dmgn::systems
