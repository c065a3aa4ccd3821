#pragma once
// The one place that knows about LibTorch version differences (Debian's 1.13 CPU build and
// CUDA LibTorch 2.x), plus reading files written by Python's torch.save.
#include <torch/torch.h>

#include <filesystem>
#include <map>
#include <string>

namespace dmgn::compat {

// A flat name -> tensor map from a file written by Python `torch.save(obj)` (zip format):
// obj may be a state dict (OrderedDict / dict of tensors), a dict nesting such dicts
// (keys joined with '.'), or a single tensor (key ""). Throws IoError / DataError naming
// the file.
std::map<std::string, torch::Tensor> load_state_dict(const std::filesystem::path& file);

// "1.13.1", "2.4.0", ...
std::string torch_version();
bool cuda_available();

}  // namespace dmgn::compat
