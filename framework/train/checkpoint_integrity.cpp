#include "train/checkpoint_integrity.h"

#include <fmt/format.h>

#include <sstream>

#include "core/crc32.h"
#include "core/error.h"

namespace dmgn::train {
namespace fs = std::filesystem;

uint32_t tensor_checksum(const torch::Tensor& t) {
  const auto c = t.detach().to(torch::kCPU).contiguous();
  const std::string head = fmt::format("{}|{}|", static_cast<int>(c.scalar_type()), c.dim());
  uint32_t crc = dmgn::crc32(head.data(), head.size());
  for (const int64_t s : c.sizes()) crc = dmgn::crc32(&s, sizeof s, crc);
  return c.numel() == 0 ? crc : dmgn::crc32(c.data_ptr(), c.numel() * c.element_size(), crc);
}

std::string encode_checksums(const TensorChecksums& sums) {
  std::string out;
  for (const auto& [key, v] : sums) out += fmt::format("{}\t{:08x}\n", key, v);
  return out;
}

TensorChecksums decode_checksums(const std::string& text, const fs::path& file) {
  TensorChecksums out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    const auto tab = line.rfind('\t');
    if (tab == std::string::npos || line.size() - tab - 1 != 8)
      throw DataError(fmt::format("checkpoint '{}' is corrupted: its tensor checksums are unreadable", file.string()));
    out[line.substr(0, tab)] = static_cast<uint32_t>(std::stoul(line.substr(tab + 1), nullptr, 16));
  }
  return out;
}

}  // namespace dmgn::train
