#pragma once
// CRC-32 (the polynomial of zip, PNG and zlib: reflected 0xEDB88320), slice-by-8 (about 2 GB/s
// on one core). Incremental: crc32(b, crc32(a)) == crc32(a + b).
#include <cstddef>
#include <cstdint>

namespace dmgn {

uint32_t crc32(const void* data, size_t n, uint32_t crc = 0);

}  // namespace dmgn
