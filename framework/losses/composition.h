#pragma once
// Location-aware SIRR's composition losses (Dong et al., ICCV 2021, Sec. 4), on [0, 1] images
// (a model working in [-1, 1] has them mapped back first). Each reads the batch (BatchLoss):
//   rcmap_composition      L_C, Eq. 7-8: MSE(I, (1 - C_i) o T + R) with the RCMap C_i (the
//                          output scored), the ground-truth T ("background") and the reflection
//                          R as it appears in I ("noise"): synthetic triples only.
//   rcmap_bce              L_C^B, Eq. 16 (Table 3's alternative): BCE(C_i, C_gt), C_gt = [gray
//                          |I - T| > gamma], gamma = max(min + beta (max - min), beta) per sample
//                          (after Qian et al.'s raindrop masks), beta = loss.rcmap_bce.beta.
//   residual_reflection    L_res on R_i: MSE(g(I), alpha g(T) + g(R_i)), g(x) = x^2.2 (Eq. 6)
//   residual_transmission  L_res on T_i: MSE(g(I), alpha g(T_i) + g(R))
//   residual_layers        both layers the model's (IBCLN's loss_res): the output scored is
//                          cat[T_i, R_i], MSE(g(I), alpha g(T_i) + g(R_i))
// alpha is the sample's blending scalar ("alpha", N x 1 x 1 x 1, from the reflection_linear
// synthesis). A batch without R or alpha (real pairs) has no composition loss: its terms are
// optional (target "noise" / "alpha").
#include "losses/losses.h"

namespace dmgn::losses {

inline constexpr double kLinearGamma = 2.2;  // g_inv(x) = x^2.2 (the paper's inverse gamma)

// The binary RCMap ground truth of Eq. 16 for [0, 1] images I, T (N x 3 x H x W): N x 1 x H x W.
torch::Tensor rcmap_ground_truth(const torch::Tensor& input, const torch::Tensor& background, double beta);

void register_composition_losses();

}  // namespace dmgn::losses
