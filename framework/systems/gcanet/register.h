#pragma once
// The gcanet system's registrations (framework/systems/gcanet/register.cpp).
namespace dmgn::systems {

// GCANet (Chen et al. 2019): its model "gcanet" (the image and its edge channel in, the residual
// out), smallest input, output names, display name "GCANet" and test size. It trains with the
// shared "supervised" recipe (MSE) and scores with the task's convention (sots for haze). Its
// row is DMGN's Table VI ("GCANet").
void register_gcanet();

}  // namespace dmgn::systems
