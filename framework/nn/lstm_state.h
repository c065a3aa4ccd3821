#pragma once
// The state a ConvLSTM carries between iterations: hidden h and cell c (N x C x H x W each).
// Shared by Location-aware SIRR's cell (systems/location_sirr/sirr_blocks.h) and MBN's rain head (systems/mbn/mbn_branches.h).
#include <torch/torch.h>

namespace dmgn::nn {

struct LstmState {
  torch::Tensor h, c;
};

}  // namespace dmgn::nn
