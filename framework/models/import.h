#pragma once
// Import of reference state dicts (torch.save'd by a system's reference code) by parameter name:
// the default of Model::import_reference (models/model.h) for systems whose parameter names are
// the reference's, and the discriminators of `dmgn parity`.
#include <torch/torch.h>

#include <functional>
#include <map>
#include <string>

namespace dmgn::models {

// Copies a reference state dict into `module` by parameter name (a leading DataParallel
// "module." is dropped, then `rename` maps the rest, identity when null): every reference tensor
// must land on one of ours with the same shape and every one of ours must be filled, or a
// DataError names the tensor and `source_name`. For systems whose parameter names are the
// reference's (Location-aware SIRR, Physics-GAN). Returns the number of tensors copied.
int64_t import_by_name(torch::nn::Module& module, const std::map<std::string, torch::Tensor>& state,
                       const std::string& source_name,
                       const std::function<std::string(const std::string&)>& rename = nullptr);

}  // namespace dmgn::models
