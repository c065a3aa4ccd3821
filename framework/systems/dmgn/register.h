#pragma once
// The dmgn system's registrations (framework/systems/dmgn/register.cpp).
namespace dmgn::systems {

// Everything the system adds to the registries: its model, recipe, metric presets, report
// tables and display names.
void register_dmgn();
void register_dmgn_tables();

}  // namespace dmgn::systems
