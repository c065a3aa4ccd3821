// ERRNet's registrations (Wei et al., CVPR 2019): the model (DRNet on the image and its VGG-19
// hypercolumn), its smallest input, its output names, its discriminator and losses, its display
// name, its recipe (errnet_model.py's critic-then-generator step with train_errnet.py's GAN
// warm-up); no metric preset (the "real20" preset is ERRNet's util/index.py) and no tables of
// its own (its rows are DMGN's Tables II-IV: run.variant "ERRNet", a study method "ERRNet").
#include "systems/errnet/register.h"

#include "models/system_info.h"
#include "systems/errnet/disc_vgg.h"
#include "systems/errnet/errnet.h"

namespace dmgn::train {
void register_errnet_recipe();  // systems/errnet/recipe_errnet.cpp
}  // namespace dmgn::train

namespace dmgn::models::errnet {
void register_errnet_losses();  // systems/errnet/losses_errnet.cpp
}  // namespace dmgn::models::errnet

namespace dmgn::systems {

void register_errnet() {
  models::models().add("errnet",
                       "ERRNet (Wei et al. 2019): DRNet (13 SE residual blocks, pyramid pooling) on the image and its "
                       "frozen VGG-19 hypercolumn; trained by its recipe (errnet) with disc_vgg and rasgan after a warm-up",
                       [](const Config& cfg) -> models::ModelPtr { return std::make_shared<models::ErrNet>(cfg); });
  models::register_input_requirement("errnet", models::errnet_input_requirement);
  models::register_output_names("errnet", {"background"});
  models::errnet::register_disc_vgg();
  models::errnet::register_errnet_losses();
  train::register_errnet_recipe();
  models::SystemInfo info;
  info.names = {"ERRNet"};
  // Test size: narrow and shallow, with the hypercolumn taps, SE blocks and pyramid kept.
  info.small = [](const Config&) {
    return std::vector<std::string>{"model.vgg_weights=\"\"", "model.n_feats=8", "model.resblocks=1",
                                    "model.se_reduction=2"};
  };
  models::register_system_info("errnet", info);
}

}  // namespace dmgn::systems
