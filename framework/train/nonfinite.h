#pragma once
// What was non-finite when a loss term was: read on the failure path only (a few reductions
// and one transfer each), so that "non-finite loss at step N in term T" says where to look.
//   batch      the step's named batch tensors (a bad sample; the loader also refuses
//              non-finite samples, so this points at the placement on the device);
//   outputs    the model's named outputs in the order it set them;
//   params     each of the recipe's modules' parameters (a previous update broke them);
//   grads      the gradients still held from the previous update (finite loss, non-finite
//              gradient: the update that broke the parameters).
// Each part names the first non-finite tensor by its module path and counts the others.
// Without outputs (null: runtime.host_sync = "log", where the failing step's batch and outputs
// are gone by the time the host learns of it) only the modules' parts are given.
#include <torch/torch.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "models/outputs.h"

namespace dmgn::train {

std::string diagnose_nonfinite(const std::map<std::string, torch::Tensor>& batch, const models::Outputs* out,
                               const std::vector<std::pair<std::string, torch::nn::Module*>>& modules);

// "" when every named tensor is finite (undefined ones are skipped), else "<first name> (and N
// more)" with N the further non-finite ones.
std::string first_nonfinite(const std::vector<std::pair<std::string, torch::Tensor>>& named);

}  // namespace dmgn::train
