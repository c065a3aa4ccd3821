#pragma once
// JPEG compression artefacts (task "jpeg"), with the real encoder: MBN's JPEG deblocking data
// (Deng et al., supplementary B; its reference code saves with PIL's Image.save(quality=q)).
//   I = decode(encode(round(B * 255), quality q)) / 255
// The encoder is OpenCV's cv::imencode(".jpg", IMWRITE_JPEG_QUALITY = q), i.e. libjpeg(-turbo)
// with the IJG quantisation tables scaled by q for luma and chroma alike, baseline, 4:2:0 chroma
// subsampling (libjpeg's default for 3 channels, which OpenCV 4.6 keeps: it has no
// IMWRITE_JPEG_SAMPLING_FACTOR yet) and the integer ("islow") DCT; decoding is cv::imdecode
// (libjpeg, fancy upsampling). PIL's save(quality=q) drives the same library with the same
// defaults (subsampling 4:2:0, islow DCT), so the artefacts are those of the paper's data (bit
// for bit where both link the same libjpeg build).
// Per sample, q is drawn uniformly from the list [synth.jpeg] quality (default [10, 20, 30, 40],
// the reference's training qualities; the paper's Table 3 tests q = 10).
// Fields: background = B quantised to 8 bits, round(clip(B) * 255) / 255 (rounded to nearest by
// OpenCV's saturate_cast, exactly what write_image stores), so that a pair written as PNG holds
// the very pair trained on and the encoder's input is the background; input I (a multiple of
// 1/255 everywhere); noise = 0.5 + (I - B) / 2 (as blur_motion: in [-1, 1] model space the signed
// residual I - B). Inputs: CV_32FC3 RGB in [0, 1]; any size.
#include <opencv2/core.hpp>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/rng.h"
#include "data/synthesis.h"

namespace dmgn::data {

struct JpegOptions {
  std::vector<int> quality = {10, 20, 30, 40};  // synth.jpeg.quality: drawn uniformly per sample

  // [synth.jpeg] of the full config, validated.
  static JpegOptions from_config(const Config& full);
  // ConfigError naming `<prefix>.quality` for an empty list or a quality outside [1, 100].
  void validate(const std::string& prefix) const;
};

// round(clip(rgb01, 0, 1) * 255) / 255: what an 8-bit file holds. CV_32FC3 in and out.
cv::Mat quantize_8bit(const cv::Mat& rgb01);

// One JPEG encode/decode round trip at `quality` (1..100) of an RGB float image: clipped to
// [0, 1], rounded to 8 bits, RGB -> BGR, cv::imencode(".jpg"), cv::imdecode, BGR -> RGB, / 255.
// CV_32FC3 in [0, 1] in, CV_32FC3 (multiples of 1/255) out, the same size. DataError for an
// image that is not CV_32FC3, a quality outside [1, 100] or a failed encode/decode.
cv::Mat jpeg_roundtrip(const cv::Mat& rgb01, int quality);

// One of options.quality, uniformly (one rng.integer draw).
int draw_jpeg_quality(const JpegOptions& options, Rng& rng);

// The triple for one quality (fields as above).
SynthOutput synthesize_jpeg(const cv::Mat& background, int quality);

class JpegSynthesis final : public Synthesis {
 public:
  explicit JpegSynthesis(JpegOptions options);
  SynthOutput synthesize(const SynthInput& in, Rng& rng) const override;
  std::string task() const override { return "jpeg"; }
  std::string name() const override { return "jpeg"; }
  const JpegOptions& options() const { return options_; }

 private:
  JpegOptions options_;
};

// Registers "jpeg" in synths().
void register_jpeg_synth();

}  // namespace dmgn::data
