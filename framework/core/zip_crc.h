#pragma once
// The integrity of a zip archive as LibTorch writes them (checkpoints, torch.save files): the
// CRC-32 that its central directory records for every record, recomputed from the bytes.
// LibTorch's reader does not check it, so flipped bits in a tensor's bytes load as finite,
// plausible, wrong values.
#include <filesystem>
#include <string>
#include <vector>

namespace dmgn {

// The records of the zip archive `file` whose bytes do not match the CRC-32 of its central
// directory (e.g. "step_00000004/data/57"), in archive order; empty when every record matches.
// Stored (uncompressed) records are checked, as LibTorch writes them; compressed ones are
// left to their reader. Zip64 archives are read. IoError when the file cannot be read,
// DataError when it is no zip archive or its directory points outside the file (truncated).
std::vector<std::string> zip_crc_mismatches(const std::filesystem::path& file);

}  // namespace dmgn
