#pragma once
// Image files in a folder, by file stem: how `dmgn score` pairs outputs with ground truths and
// how `dmgn study create` pairs another method's saved outputs with a dataset's samples.
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace dmgn::data {

// True for the extensions OpenCV's imread decodes (.png, .jpg, .jpeg, .bmp, .tif, .tiff, .webp,
// .ppm, .pgm, .pnm, .pbm, .exr, .hdr, .jp2), in any case.
bool is_image_file(const std::filesystem::path& path);

// Stem -> image file of `dir`'s regular files (not recursive). Other files are appended to
// `ignored` (never skipped silently). DataError naming both files when two images share a stem.
std::map<std::string, std::filesystem::path> images_by_stem(const std::filesystem::path& dir,
                                                            std::vector<std::string>& ignored);

}  // namespace dmgn::data
