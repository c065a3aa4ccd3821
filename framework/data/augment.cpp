#include "data/augment.h"

#include <fmt/format.h>
#include <fmt/ranges.h>  // fmt::join (its home since fmt 11)

#include <algorithm>
#include <opencv2/imgproc.hpp>

#include "core/error.h"

namespace dmgn::data {

namespace {

void require_image(const cv::Mat& m, const char* who) {
  if (m.empty() || (m.type() != CV_32FC3 && m.type() != CV_32FC1))
    throw DataError(fmt::format("{}: expected a non-empty CV_32FC3 or CV_32FC1 image", who));
}

}  // namespace

AugmentOptions AugmentOptions::from_config(const Config& full) {
  AugmentOptions o;
  o.crop = static_cast<int>(full.get_int("data.crop"));
  const auto side = full.get_ints("data.augment.short_side");
  if (side.size() != 2 || side[0] < 0 || side[1] < side[0] || (side[0] == 0) != (side[1] == 0))
    throw ConfigError(fmt::format(
        "config key 'data.augment.short_side' must be [lo, hi] with 0 < lo <= hi (or [0, 0] "
        "for no resize), got [{}]",
        fmt::join(side, ", ")));
  o.short_min = static_cast<int>(side[0]);
  o.short_max = static_cast<int>(side[1]);
  o.flip = full.get_bool("data.augment.flip");
  if (o.crop < 0) throw ConfigError(fmt::format("config key 'data.crop' = {} must be >= 0", o.crop));
  return o;
}

cv::Mat resize_short_side(const cv::Mat& img, int side) {
  require_image(img, "resize_short_side");
  if (side < 1) throw DataError(fmt::format("resize_short_side: side {} < 1", side));
  const auto even_up = [](int v) { return (v + 1) / 2 * 2; };
  int nh, nw;
  if (img.cols >= img.rows) {  // landscape or square: scale the height (__scale_height)
    if (img.rows == side) return img;
    nh = side;
    nw = even_up(static_cast<int>(static_cast<double>(side) * img.cols / img.rows));
  } else {  // portrait: scale the width (__scale_width)
    if (img.cols == side) return img;
    nw = side;
    nh = even_up(static_cast<int>(static_cast<double>(side) * img.rows / img.cols));
  }
  const bool shrink = static_cast<double>(nw) * nh < static_cast<double>(img.cols) * img.rows;
  cv::Mat out;
  cv::resize(img, out, cv::Size(nw, nh), 0, 0, shrink ? cv::INTER_AREA : cv::INTER_CUBIC);
  if (!shrink) out = img.channels() == 3 ? cv::min(cv::max(out, 0.0), 1.0) : cv::max(out, 0.0);
  return out;
}

std::vector<cv::Mat> augment(const std::vector<cv::Mat>& images, const AugmentOptions& o,
                             Rng& rng) {
  if (images.empty()) throw DataError("augment: no images");
  for (const auto& m : images) require_image(m, "augment");
  if (o.crop < 0) throw DataError(fmt::format("augment: crop {} < 0", o.crop));
  std::vector<cv::Mat> out = images;
  if (o.resizes()) {
    int side = static_cast<int>(rng.integer(o.short_min, o.short_max)) / 2 * 2;
    side = std::max({side, (o.crop + 1) / 2 * 2, 2});
    for (auto& m : out) m = resize_short_side(m, side);
  }
  if (o.flip && rng.uniform() < 0.5)
    for (auto& m : out) {
      cv::Mat f;
      cv::flip(m, f, 1);
      m = f;
    }
  if (o.crop > 0) {
    int rows = out[0].rows, cols = out[0].cols;
    for (const auto& m : out) {
      rows = std::min(rows, m.rows);
      cols = std::min(cols, m.cols);
    }
    if (rows < o.crop || cols < o.crop)
      throw DataError(fmt::format("augment: a {}x{} image is smaller than the {}x{} crop (no "
                                  "resize: data.augment.short_side = [0, 0])",
                                  cols, rows, o.crop, o.crop));
    const int i = static_cast<int>(rng.integer(0, rows - o.crop));
    const int j = static_cast<int>(rng.integer(0, cols - o.crop));
    const cv::Rect box(j, i, o.crop, o.crop);
    for (auto& m : out) m = m(box).clone();
  } else {
    for (auto& m : out) m = m.clone();
  }
  return out;
}

}  // namespace dmgn::data
