#pragma once
// The ibcln system's registrations (framework/systems/ibcln/register.cpp).
namespace dmgn::systems {

// IBCLN (Li et al. 2020): its model "ibcln" (G_T and G_R iterating over T and R), smallest input,
// output names, the recipe "ibcln" (generators, then the LSGAN
// critic), its display name and test size. It scores with the real20 preset (reflection); its
// rows are DMGN's Tables II, III and IV ("IBCLN").
void register_ibcln();

}  // namespace dmgn::systems
