#include "models/builtins.h"

#include "models/dmgn.h"
#include "models/location_sirr.h"

namespace dmgn::models {

void register_builtins() {
  models().add("dmgn", "Deep-Masking Generative Network and its Table I ablations (config composition)",
               [](const Config& cfg) -> ModelPtr { return std::make_shared<Dmgn>(cfg); });
  register_input_requirement("dmgn", dmgn_input_requirement);
  models().add("location_sirr",
               "Location-aware SIRR (Dong et al. 2021): MLSM + RCMap + ConvLSTM, contextual autoencoder, N "
               "iterations (its Table 2 ablations by config)",
               [](const Config& cfg) -> ModelPtr { return std::make_shared<LocationSirr>(cfg); });
  register_input_requirement("location_sirr", location_sirr_input_requirement);
}

}  // namespace dmgn::models
