// DMGN's registrations: the model and its Table I ablations (config compositions of the cells,
// blocks and generators in nn/), its critic + generator recipe, Tables I-VII, its display name.
// Its metric conventions (real20, rain100, sots) are the benchmarks' own (metrics/spec.cpp).
#include "systems/dmgn/register.h"

#include <fmt/format.h>

#include "models/system_info.h"
#include "systems/dmgn/dmgn.h"

namespace dmgn::train {
void register_dmgn_recipe();  // systems/dmgn/recipe_dmgn.cpp
}  // namespace dmgn::train

namespace dmgn::systems {

void register_dmgn() {
  using namespace dmgn::models;
  // The model: its factory, its smallest input (models/model.h InputRequirement) and every
  // output name it can declare in some configuration (loss terms are checked against it).
  models::models().add("dmgn", "Deep-Masking Generative Network and its Table I ablations (config composition)",
                       [](const Config& cfg) -> ModelPtr { return std::make_shared<Dmgn>(cfg); });
  register_input_requirement("dmgn", dmgn_input_requirement);
  register_output_names("dmgn", {"background", "coarse", "noise", "separator_mask", "background_map", "coarse_masks",
                                 "refine_masks"});
  train::register_dmgn_recipe();
  register_dmgn_tables();
  SystemInfo info;
  info.names = {"DMGN"};
  info.small = [](const Config& c) {
    std::vector<std::string> v{"model.head.vgg_weights=\"\""};
    std::string widths;
    for (size_t i = 0; i < c.get_ints("model.widths").size(); ++i) widths += fmt::format("{}{}", i ? ", " : "", i ? 8 : 4);
    v.push_back("model.widths=[" + widths + "]");
    for (const char* s : {"model.bottleneck_cells=1", "model.vestigial=false", "model.aca.reduction=2"}) v.push_back(s);
    return v;
  };
  register_system_info("dmgn", info);
}

}  // namespace dmgn::systems
