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
// The path's extension in lower case (".PNG" -> ".png"; "" when it has none).
std::string lower_extension(const std::filesystem::path& path);

// A folder entry as listings see it, following symbolic links. `broken` holds the OS reason
// (e.g. "Too many levels of symbolic links") when the entry's type cannot be determined: a link
// to nothing, a link loop; such an entry is neither a file nor a folder. Never throws.
struct EntryType {
  bool file = false, folder = false, link = false;
  std::string broken;  // "" = the type is known
};
EntryType entry_type(const std::filesystem::directory_entry& entry);
// The one-line message for an entry whose `broken` is set: "'PATH' is a broken link (REASON)".
std::string broken_message(const std::filesystem::path& path, const EntryType& type);

// Stem -> image file of `dir`'s regular files (not recursive). Other files are appended to
// `ignored` (never skipped silently). DataError naming both files when two images share a stem,
// or naming the entry when an image name is a broken link (entry_type); IoError when `dir`
// cannot be listed.
std::map<std::string, std::filesystem::path> images_by_stem(const std::filesystem::path& dir,
                                                            std::vector<std::string>& ignored);

}  // namespace dmgn::data
