#pragma once
// The mbn system's registrations (framework/systems/mbn/register.cpp).
namespace dmgn::systems {

// Everything the system adds to the registries: its model, recipe, metric presets, report
// tables and display names.
void register_mbn();
void register_mbn_tables();

}  // namespace dmgn::systems
