#pragma once
// The training augmentation of the official DMGN code (datasyn/transforms.py,
// paired_data_transforms), configurable by [data] crop and [data.augment]:
//   1. resize (short_side = [lo, hi], hi > 0): s = int(randint(lo, hi) / 2) * 2, an even size
//      in [lo, hi]; s = max(s, crop rounded up to even) so the crop always fits; every image
//      gets resize_short_side(image, s). short_side = [0, 0]: no resize (an image smaller than
//      the crop is then a DataError naming its size).
//   2. flip = true: with probability 1/2 all images are flipped horizontally.
//   3. crop > 0: one offset (i, j) uniform over the rows / cols all images share, the same
//      crop x crop window cut from each.
// Draw order as official: s, flip, i, j (a disabled step draws nothing). Deviation: the
// official code picks the scaled side from the first image's orientation for both; here each
// image scales its own short side, so a portrait photo paired with a landscape one never ends
// up narrower than the crop. Aligned pairs (input, ground truth of the same size) stay aligned.
#include <opencv2/core.hpp>
#include <vector>

#include "core/config.h"
#include "core/rng.h"

namespace dmgn::data {

struct AugmentOptions {
  int crop = 256;                       // data.crop; 0 = no crop
  int short_min = 320, short_max = 480; // data.augment.short_side; [0, 0] = no resize
  bool flip = true;                     // data.augment.flip

  // Reads data.crop and data.augment.*; ConfigError naming the key for bad values.
  static AugmentOptions from_config(const Config& full);
  bool resizes() const { return short_max > 0; }
};

// Images: CV_32FC3 or CV_32FC1 (a depth map travels with its photo), at least one.
// Returns them transformed, in the same order.
std::vector<cv::Mat> augment(const std::vector<cv::Mat>& images, const AugmentOptions& options,
                             Rng& rng);

// Short side -> `side` (returned unchanged if it already is `side`), the long side scaled
// with the aspect ratio, truncated, then rounded up to even (official __scale_width /
// __scale_height). Shrinking uses INTER_AREA (PIL's bicubic filter is antialiased when
// shrinking; OpenCV's INTER_CUBIC is not), enlarging uses INTER_CUBIC; result clipped to [0, 1]
// (CV_32FC3; a CV_32FC1 map is clipped below at 0 only).
cv::Mat resize_short_side(const cv::Mat& img, int side);

}  // namespace dmgn::data
