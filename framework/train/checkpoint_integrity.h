#pragma once
// Integrity of checkpoint files (train/checkpoint.h): a checkpoint is a zip archive (LibTorch's
// format), whose central directory records a CRC-32 of every record, and dmgn's checkpoints
// (since format 2 with checksums) also carry a checksum of every module tensor by name. LibTorch
// verifies neither when it reads, so flipped bits in a tensor's bytes would load as finite,
// plausible, wrong weights; load_checkpoint verifies both.
#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "core/zip_crc.h"

namespace dmgn::train {

// Content checksum of a tensor: CRC-32 of its dtype, shape and values in row-major order
// (whatever its memory layout or device).
uint32_t tensor_checksum(const torch::Tensor& t);

// "part/key" -> checksum, serialised as one "part/key<TAB>hex" line each.
using TensorChecksums = std::map<std::string, uint32_t>;
std::string encode_checksums(const TensorChecksums& sums);
TensorChecksums decode_checksums(const std::string& text, const std::filesystem::path& file);

// The zip check itself: core/zip_crc.h.
using dmgn::zip_crc_mismatches;

}  // namespace dmgn::train
