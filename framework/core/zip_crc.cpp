#include "core/zip_crc.h"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <vector>

#include "core/crc32.h"
#include "core/error.h"

namespace dmgn {
namespace fs = std::filesystem;

namespace {

uint64_t le(const unsigned char* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

class Reader {
 public:
  explicit Reader(const fs::path& file) : file_(file), in_(file, std::ios::binary) {
    if (!in_) throw IoError(fmt::format("cannot read '{}'", file.string()));
    in_.seekg(0, std::ios::end);
    size_ = static_cast<uint64_t>(in_.tellg());
  }
  uint64_t size() const { return size_; }
  std::vector<unsigned char> read(uint64_t at, uint64_t n) {
    if (at > size_ || n > size_ - at) truncated();
    std::vector<unsigned char> b(n);
    in_.seekg(static_cast<std::streamoff>(at));
    in_.read(reinterpret_cast<char*>(b.data()), static_cast<std::streamsize>(n));
    if (!in_) throw IoError(fmt::format("cannot read checkpoint '{}' at byte {}", file_.string(), at));
    return b;
  }
  uint32_t crc(uint64_t at, uint64_t n) {
    if (at > size_ || n > size_ - at) truncated();
    std::vector<char> buf(std::min<uint64_t>(n, 4u << 20));
    in_.seekg(static_cast<std::streamoff>(at));
    uint32_t c = 0;
    while (n > 0) {
      const auto k = std::min<uint64_t>(n, buf.size());
      in_.read(buf.data(), static_cast<std::streamsize>(k));
      if (!in_) throw IoError(fmt::format("cannot read '{}'", file_.string()));
      c = dmgn::crc32(buf.data(), k, c);
      n -= k;
    }
    return c;
  }
  [[noreturn]] void truncated() const {
    throw DataError(fmt::format("'{}' is truncated or not a zip archive (its directory points past the end of the "
                                "file)", file_.string()));
  }

 private:
  fs::path file_;
  std::ifstream in_;
  uint64_t size_ = 0;
};

}  // namespace

std::vector<std::string> zip_crc_mismatches(const fs::path& file) {
  Reader r(file);
  // End of central directory: 22 bytes plus a comment of up to 65535, at the end of the file.
  const uint64_t tail_n = std::min<uint64_t>(r.size(), 22 + 65535);
  const auto tail = r.read(r.size() - tail_n, tail_n);
  int64_t eocd = -1;
  for (int64_t i = static_cast<int64_t>(tail_n) - 22; i >= 0; --i)
    if (le(&tail[static_cast<size_t>(i)], 4) == 0x06054b50) {
      eocd = i;
      break;
    }
  if (eocd < 0) throw DataError(fmt::format("'{}' is not a zip archive (truncated?)", file.string()));
  const unsigned char* e = &tail[static_cast<size_t>(eocd)];
  uint64_t entries = le(e + 10, 2), cd_size = le(e + 12, 4), cd_offset = le(e + 16, 4);
  if (entries == 0xFFFF || cd_size == 0xFFFFFFFF || cd_offset == 0xFFFFFFFF) {  // zip64
    const uint64_t eocd_at = r.size() - tail_n + static_cast<uint64_t>(eocd);
    if (eocd_at < 20) r.truncated();
    const auto loc = r.read(eocd_at - 20, 20);
    if (le(loc.data(), 4) != 0x07064b50) r.truncated();
    const auto z = r.read(le(loc.data() + 8, 8), 56);
    if (le(z.data(), 4) != 0x06064b50) r.truncated();
    entries = le(z.data() + 32, 8);
    cd_size = le(z.data() + 40, 8);
    cd_offset = le(z.data() + 48, 8);
  }
  const auto cd = r.read(cd_offset, cd_size);
  std::vector<std::string> bad;
  size_t at = 0;
  for (uint64_t k = 0; k < entries; ++k) {
    if (at + 46 > cd.size() || le(&cd[at], 4) != 0x02014b50) r.truncated();
    const unsigned char* h = &cd[at];
    const uint64_t method = le(h + 10, 2), crc = le(h + 16, 4);
    uint64_t csize = le(h + 20, 4), usize = le(h + 24, 4), offset = le(h + 42, 4);
    const size_t name_n = le(h + 28, 2), extra_n = le(h + 30, 2), comment_n = le(h + 32, 2);
    if (at + 46 + name_n + extra_n + comment_n > cd.size()) r.truncated();
    const std::string name(reinterpret_cast<const char*>(h + 46), name_n);
    // Zip64 extra field: the 64-bit values of the fields that hold 0xFFFFFFFF, in this order.
    for (size_t x = at + 46 + name_n; x + 4 <= at + 46 + name_n + extra_n;) {
      const uint64_t id = le(&cd[x], 2), n = le(&cd[x + 2], 2);
      if (id == 0x0001) {
        size_t v = x + 4;
        const auto next = [&](uint64_t& field) {
          if (field != 0xFFFFFFFF || v + 8 > x + 4 + n) return;
          field = le(&cd[v], 8);
          v += 8;
        };
        next(usize);  // present before the compressed size when it overflows
        next(csize);
        next(offset);
      }
      x += 4 + n;
    }
    at += 46 + name_n + extra_n + comment_n;
    if (method != 0) continue;  // compressed: not written by LibTorch
    const auto local = r.read(offset, 30);
    if (le(local.data(), 4) != 0x04034b50) r.truncated();
    const uint64_t data_at = offset + 30 + le(local.data() + 26, 2) + le(local.data() + 28, 2);
    if (r.crc(data_at, csize) != crc) bad.push_back(name);
  }
  return bad;
}

}  // namespace dmgn
