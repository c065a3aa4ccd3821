#include "models/builtins.h"

#include "models/dmgn.h"

namespace dmgn::models {

void register_builtins() {
  models().add("dmgn", "Deep-Masking Generative Network and its Table I ablations (config composition)",
               [](const Config& cfg) -> ModelPtr { return std::make_shared<Dmgn>(cfg); });
  register_input_requirement("dmgn", dmgn_input_requirement);
}

}  // namespace dmgn::models
