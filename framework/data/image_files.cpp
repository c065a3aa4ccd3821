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
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return std::find(std::begin(kExt), std::end(kExt), ext) != std::end(kExt);
}

std::map<std::string, fs::path> images_by_stem(const fs::path& dir, std::vector<std::string>& ignored) {
  std::map<std::string, fs::path> found;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
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
  return found;
}

}  // namespace dmgn::data
