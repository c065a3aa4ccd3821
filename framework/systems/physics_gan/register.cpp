// Physics-GAN's registrations (Pan et al., TPAMI 2020): its generator, its recipe (physics
// operator, two discriminators), its release's metric convention (the default of blur and SR),
// Tables 5, 8, 9 and its display name.
#include "systems/physics_gan/register.h"

#include "metrics/spec.h"
#include "models/system_info.h"
#include "systems/physics_gan/physics_gan.h"

namespace dmgn::train {
void register_physics_gan_recipe();  // systems/physics_gan/recipe_physics_gan.cpp
}  // namespace dmgn::train

namespace dmgn::systems {

void register_physics_gan() {
  using namespace dmgn::models;
  models::models().add("physics_gan",
                       "Physics-GAN's generator (Pan et al. 2020): CycleGAN's ResNet generator; trained through a "
                       "physics operator with two discriminators (recipe physics_gan)",
                       [](const Config& cfg) -> ModelPtr { return std::make_shared<PhysicsGan>(cfg); });
  register_input_requirement("physics_gan", physics_gan_input_requirement);
  register_output_names("physics_gan", {"background", "physics", "physics_restored"});
  train::register_physics_gan_recipe();
  // Its release (util/compute_diff.m, ssim_index.m): uint8 images, PSNR over every value with
  // peak 255, Wang's ssim_index (Gaussian 11/1.5, K .01/.03, valid, L 255). That SSIM takes 2-D
  // images only, so the release scored one channel: luminance (BT.601 Y) is assumed for both.
  // Its shave by the SR factor applies to SR only (eval.custom for that). The one system with
  // blur and SR benchmarks, so their default.
  metrics::Preset p;
  p.spec.quantise = true;
  p.spec.color = metrics::Spec::Color::y;
  p.default_for = {"blur", "sr"};
  p.paper = "Physics-GAN";
  metrics::register_preset("physics_gan", "Physics-GAN's release: uint8, BT.601 Y, Wang's ssim_index", p);
  register_physics_gan_tables();
  SystemInfo info;
  info.names = {"Physics-GAN"};
  info.cannot_run = [](const std::string&, const std::string& task) -> std::string {
    if (task == "haze" || task == "blur") return "";
    return "cannot run: its paper has a physics model for haze, blur and SR only (physics_gan.operator refuses " +
           task + "; operator \"none\" would train BaseGAN)";
  };
  info.small = [](const Config& c) {
    std::vector<std::string> v{"model.ngf=4"};
    if (c.get_int("model.blocks") > 1) v.push_back("model.blocks=1");
    if (c.has("physics_gan.pool_size")) v.push_back("physics_gan.pool_size=0");  // pools hold earlier crops' sizes
    return v;
  };
  register_system_info("physics_gan", info);
}

}  // namespace dmgn::systems
