#include "core/compat.h"

#include <fmt/format.h>
#include <torch/version.h>


namespace dmgn::compat {

// load_state_dict() lives in torch_pickle.cpp.

std::string torch_version() {
  return fmt::format("{}.{}.{}", TORCH_VERSION_MAJOR, TORCH_VERSION_MINOR, TORCH_VERSION_PATCH);
}

bool cuda_available() { return torch::cuda::is_available(); }

}  // namespace dmgn::compat
