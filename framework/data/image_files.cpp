#include "data/image_files.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <iterator>

#include "core/error.h"

namespace dmgn::data {

namespace fs = std::filesystem;

bool is_image_file(const fs::path& p) {
  static const char* kExt[] = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp",
                               ".ppm", ".pgm", ".pnm",  ".pbm", ".exr",  ".hdr",  ".jp2"};
  const std::string ext = lower_extension(p);
  return std::find(std::begin(kExt), std::end(kExt), ext) != std::end(kExt);
}

std::string lower_extension(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext;
}

EntryType entry_type(const fs::directory_entry& entry) {
  EntryType t;
  std::error_code ec;
  t.link = entry.is_symlink(ec);
  const fs::file_status st = entry.status(ec);
  if (ec) {
    t.broken = ec.message();
    return t;
  }
  t.file = fs::is_regular_file(st);
  t.folder = fs::is_directory(st);
  return t;
}

std::string broken_message(const fs::path& path, const EntryType& type) {
  return fmt::format("'{}' {} ({})", path.string(), type.link ? "is a broken link" : "cannot be examined",
                     type.broken);
}

std::map<std::string, fs::path> images_by_stem(const fs::path& dir, std::vector<std::string>& ignored) {
  std::map<std::string, fs::path> found;
  std::error_code ec;
  for (fs::directory_iterator next(dir, ec), end; !ec && next != end; next.increment(ec)) {
    const fs::directory_entry& e = *next;
    const EntryType type = entry_type(e);
    if (!type.broken.empty()) {
      if (is_image_file(e.path())) throw DataError(broken_message(e.path(), type));
      ignored.push_back(e.path().string());
      continue;
    }
    if (!type.file) continue;
    if (!is_image_file(e.path())) {
      ignored.push_back(e.path().string());
      continue;
    }
    const std::string stem = e.path().stem().string();
    const auto [it, fresh] = found.emplace(stem, e.path());
    if (!fresh)
      throw DataError(fmt::format("two images with the stem '{}' in '{}': '{}' and '{}'", stem, dir.string(),
                                  it->second.filename().string(), e.path().filename().string()));
  }
  if (ec) throw IoError(fmt::format("cannot list folder '{}': {}", dir.string(), ec.message()));
  return found;
}

}  // namespace dmgn::data
