#pragma once
// The physics_gan system's registrations (framework/systems/physics_gan/register.cpp).
namespace dmgn::systems {

// Everything the system adds to the registries: its model, recipe, metric presets, report
// tables and display names.
void register_physics_gan();
void register_physics_gan_tables();

}  // namespace dmgn::systems
