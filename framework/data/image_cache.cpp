#include "data/image_cache.h"

#include <fmt/format.h>

#include <map>
#include <mutex>
#include <string>
#include <system_error>

#include "data/image_io.h"

namespace dmgn::data {

namespace fs = std::filesystem;

namespace {

struct Cache {
  std::mutex mutex;
  std::map<std::string, std::shared_ptr<const cv::Mat>> images;
};

Cache& cache() {
  static Cache c;
  return c;
}

}  // namespace

std::shared_ptr<const cv::Mat> cached_image(const fs::path& path) {
  std::error_code e1, e2, e3;
  const fs::path canon = fs::weakly_canonical(path, e1);
  const auto size = fs::file_size(path, e2);
  const auto mtime = fs::last_write_time(path, e3);
  // A file we cannot stat is not cached: read_image reports why it cannot be read.
  if (e1 || e2 || e3) return std::make_shared<const cv::Mat>(read_image(path));
  const std::string key =
      fmt::format("{}|{}|{}", canon.string(), size, mtime.time_since_epoch().count());

  Cache& c = cache();
  // Decoding happens under the lock: concurrent requests for one file decode it once.
  std::lock_guard<std::mutex> lock(c.mutex);
  auto it = c.images.find(key);
  if (it != c.images.end()) return it->second;
  auto img = std::make_shared<const cv::Mat>(read_image(path));
  c.images.emplace(key, img);
  return img;
}

void clear_image_cache() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  c.images.clear();
}

}  // namespace dmgn::data
