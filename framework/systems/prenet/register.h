#pragma once
// The prenet system's registrations (framework/systems/prenet/register.cpp).
namespace dmgn::systems {

// PReNet (Ren et al. 2019): its model "prenet" (and the variants PReNet_r, PRN, PRN_r as keys),
// output names, display names (one per variant) and test size. It trains with the shared
// "supervised" recipe (1 - SSIM, Adam, step milestones) and scores with the rain100 preset (the
// rain task's convention, PReNet's own scripts). Its row is DMGN's Table V ("PReNet").
void register_prenet();

}  // namespace dmgn::systems
