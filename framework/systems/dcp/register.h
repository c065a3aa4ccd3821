#pragma once
// The dcp system's registrations (framework/systems/dcp/register.cpp).
namespace dmgn::systems {

// The dark channel prior (He et al. 2009) as a training-free system: its model "dcp" (no
// parameters), its output names and its display name "DCP" with SystemInfo::training_free, and
// that it runs on haze only. Its row is DMGN's Table VI ("DCP"); it scores with the task's
// convention (sots for haze).
void register_dcp();

}  // namespace dmgn::systems
