#pragma once
// Every system of the registry, one folder each (framework/systems/<name>/: its network and
// private blocks, schema fragment, recipe, importer, metric presets, report tables, display
// names, docs page). register_systems() calls each folder's register_<name>(): adding a system
// is its folder plus one line in systems.cpp.
namespace dmgn::systems {

void register_systems();

}  // namespace dmgn::systems
