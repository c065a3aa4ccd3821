#include "models/builtins.h"

#include "models/dmgn.h"
#include "models/location_sirr.h"
#include "models/mbn.h"
#include "models/physics_gan.h"

namespace dmgn::models {

// Each model: its factory, its smallest input (models/model.h InputRequirement) and every output
// name it can declare in some configuration (loss terms are checked against it).
void register_builtins() {
  models().add("dmgn", "Deep-Masking Generative Network and its Table I ablations (config composition)",
               [](const Config& cfg) -> ModelPtr { return std::make_shared<Dmgn>(cfg); });
  register_input_requirement("dmgn", dmgn_input_requirement);
  register_output_names("dmgn", {"background", "coarse", "noise", "separator_mask", "background_map", "coarse_masks",
                                 "refine_masks"});
  models().add("location_sirr",
               "Location-aware SIRR (Dong et al. 2021): MLSM + RCMap + ConvLSTM, contextual autoencoder, N "
               "iterations (its Table 2 ablations by config)",
               [](const Config& cfg) -> ModelPtr { return std::make_shared<LocationSirr>(cfg); });
  register_input_requirement("location_sirr", location_sirr_input_requirement);
  register_output_names("location_sirr", {"background", "noise", "background_iters", "noise_iters", "frame_half",
                                          "frame_quarter", "confidence", "confidence_iters"});
  models().add("physics_gan",
               "Physics-GAN's generator (Pan et al. 2020): CycleGAN's ResNet generator; trained through a physics "
               "operator with two discriminators (recipe physics_gan)",
               [](const Config& cfg) -> ModelPtr { return std::make_shared<PhysicsGan>(cfg); });
  register_input_requirement("physics_gan", physics_gan_input_requirement);
  register_output_names("physics_gan", {"background", "physics", "physics_restored"});
  models().add("mbn",
               "MBN / R-MBN (Deng et al.): one DuRB-M stem between per-task input and output branches (rain, "
               "blur, JPEG, haze); model.mode = recurrent chains them (R-MBN); Table 1's ablations by config",
               [](const Config& cfg) -> ModelPtr { return std::make_shared<Mbn>(cfg); });
  register_input_requirement("mbn", mbn_input_requirement);
  // R-MBN: "stage_<task>" per stage of model.order.
  register_output_names("mbn", {"background", "scales", "stages", "intermediate", "stage_*"});
}

}  // namespace dmgn::models
