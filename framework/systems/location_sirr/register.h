#pragma once
// The location_sirr system's registrations (framework/systems/location_sirr/register.cpp).
namespace dmgn::systems {

// Everything the system adds to the registries: its model, recipe, metric presets, report
// tables and display names.
void register_location_sirr();
void register_location_sirr_tables();

}  // namespace dmgn::systems
