#pragma once
// Process-wide cache of decoded images (read_image), for small photo sets such as the
// built-in dataset's: each file is decoded once per (canonical path, size, modification time),
// however many datasets or threads ask for it. Thread-safe. The returned image is shared:
// never modify it (clone first). Errors are read_image's (IoError / DataError naming the file).
#include <filesystem>
#include <memory>
#include <opencv2/core.hpp>

namespace dmgn::data {

std::shared_ptr<const cv::Mat> cached_image(const std::filesystem::path& path);
// Drops every cached image (images still held by callers stay valid).
void clear_image_cache();

}  // namespace dmgn::data
