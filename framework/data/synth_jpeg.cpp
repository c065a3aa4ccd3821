#include "data/synth_jpeg.h"

#include <fmt/format.h>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <utility>

#include "core/error.h"
#include "core/tasks.h"
#include "data/image_io.h"

namespace dmgn::data {

// ---- options ------------------------------------------------------------------------------

JpegOptions JpegOptions::from_config(const Config& full) {
  const std::string prefix = "synth.jpeg";
  const Config c = full.sub(prefix);
  JpegOptions o;
  o.quality.clear();
  for (const int64_t q : c.get_ints("quality")) {
    if (q < 1 || q > 100)
      throw ConfigError(fmt::format("config key '{}.quality': {} is outside [1, 100]", prefix, q));
    o.quality.push_back(static_cast<int>(q));
  }
  o.validate(prefix);
  return o;
}

void JpegOptions::validate(const std::string& prefix) const {
  if (quality.empty())
    throw ConfigError(fmt::format("config key '{}.quality' is empty: list at least one JPEG quality in [1, 100]",
                                  prefix));
  for (const int q : quality)
    if (q < 1 || q > 100)
      throw ConfigError(fmt::format("config key '{}.quality': {} is outside [1, 100]", prefix, q));
}

int draw_jpeg_quality(const JpegOptions& o, Rng& rng) {
  return o.quality[static_cast<size_t>(rng.integer(0, static_cast<int64_t>(o.quality.size()) - 1))];
}

// ---- the codec ----------------------------------------------------------------------------

namespace {

// clip to [0, 1], * 255, saturate_cast (round to nearest): the 8-bit RGB image.
cv::Mat to_u8(const cv::Mat& rgb01) {
  cv::Mat clipped = cv::min(cv::max(rgb01, 0.0), 1.0), u8;
  clipped.convertTo(u8, CV_8U, 255.0);
  return u8;
}

}  // namespace

cv::Mat quantize_8bit(const cv::Mat& rgb01) {
  require_rgb32f(rgb01, "jpeg: image");
  cv::Mat out;
  to_u8(rgb01).convertTo(out, CV_32F, 1.0 / 255.0);
  return out;
}

cv::Mat jpeg_roundtrip(const cv::Mat& rgb01, int quality) {
  require_rgb32f(rgb01, "jpeg: image");
  if (quality < 1 || quality > 100)
    throw DataError(fmt::format("jpeg: quality {} is outside [1, 100]", quality));
  cv::Mat bgr;
  cv::cvtColor(to_u8(rgb01), bgr, cv::COLOR_RGB2BGR);
  std::vector<uchar> bytes;
  if (!cv::imencode(".jpg", bgr, bytes, {cv::IMWRITE_JPEG_QUALITY, quality}))
    throw DataError(fmt::format("jpeg: cv::imencode failed for a {}x{} image at quality {}", bgr.cols, bgr.rows,
                                quality));
  const cv::Mat decoded = cv::imdecode(bytes, cv::IMREAD_COLOR);
  if (decoded.empty() || decoded.size() != bgr.size() || decoded.type() != CV_8UC3)
    throw DataError(fmt::format("jpeg: cv::imdecode failed on its own {}x{} encoding at quality {}", bgr.cols,
                                bgr.rows, quality));
  cv::Mat rgb, out;
  cv::cvtColor(decoded, rgb, cv::COLOR_BGR2RGB);
  rgb.convertTo(out, CV_32F, 1.0 / 255.0);
  return out;
}

// ---- synthesis ----------------------------------------------------------------------------

SynthOutput synthesize_jpeg(const cv::Mat& background, int quality) {
  require_rgb32f(background, "jpeg: background B");
  SynthOutput out;
  out.background = quantize_8bit(background);
  out.input = jpeg_roundtrip(out.background, quality);
  out.noise = (out.input - out.background) * 0.5 + cv::Scalar::all(0.5);
  return out;
}

JpegSynthesis::JpegSynthesis(JpegOptions options) : options_(std::move(options)) {
  options_.validate("synth.jpeg");
}

SynthOutput JpegSynthesis::synthesize(const SynthInput& in, Rng& rng) const {
  return synthesize_jpeg(in.background, draw_jpeg_quality(options_, rng));
}

void register_jpeg_synth() {
  register_task("jpeg", "JPEG artifact removal, q = 10 (MBN)");
  synths().add("jpeg",
               "JPEG compression artefacts with the real encoder (libjpeg via cv::imencode, 4:2:0): I = "
               "decode(encode(B, q)), q drawn from [synth.jpeg] quality (MBN's 10/20/30/40)",
               [](const Config& full) -> SynthPtr {
                 return std::make_shared<JpegSynthesis>(JpegOptions::from_config(full));
               });
}

}  // namespace dmgn::data
