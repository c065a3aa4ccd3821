#pragma once
// Import of state dicts saved by the official DMGN PyTorch code (model_reflection.py,
// model_deraining.py, model_dehazing.py; torch.save zip format, with or without the
// DataParallel "module." prefix) into a Dmgn built with the matching task preset and
// model.vestigial = true (the official layout). The name mapping is explicit; every official
// tensor must land on exactly one of ours with the same shape, and every one of ours must be
// filled — otherwise an error names the tensor.
#include <filesystem>
#include <functional>
#include <map>
#include <string>

#include "models/import.h"
#include "models/model.h"

namespace dmgn::models {

// Our parameter name for an official one ("" if the name is not part of the official layout).
std::string official_to_ours(const std::string& official_name);

// Copies the official tensors into `model`. Returns the number of tensors copied.
int64_t import_official(Model& model, const std::map<std::string, torch::Tensor>& state,
                        const std::string& source_name);

}  // namespace dmgn::models
