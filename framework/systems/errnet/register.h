#pragma once
// The errnet system's registrations (framework/systems/errnet/register.cpp).
namespace dmgn::systems {

// Everything ERRNet adds to the registries: its model, input requirement and output names, the
// discriminator "disc_vgg", the losses "mse", "gradient" and "rasgan", the recipe "errnet"
// (critic update, then the generator, as errnet_model.py's optimize_parameters, after
// train_errnet.py's GAN warm-up) and its display name. It scores with the existing "real20"
// preset (ERRNet's util/index.py).
void register_errnet();

}  // namespace dmgn::systems
