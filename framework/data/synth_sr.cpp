#include "data/synth_sr.h"

#include <fmt/format.h>

#include "core/error.h"
#include "core/tasks.h"
#include <cstring>

namespace dmgn::data {

SrOptions SrOptions::from_config(const Config& full) {
  const Config c = full.sub("synth.sr_bicubic");
  SrOptions o;
  o.scale = c.get_int("scale");
  if (o.scale < 2) throw ConfigError("config key 'synth.sr_bicubic.scale' must be >= 2");
  o.convention = bicubic_convention(c.get_string("convention"), "synth.sr_bicubic.convention");
  return o;
}

SynthOutput SrBicubic::synthesize(const SynthInput& in, Rng&) const {
  const cv::Mat& b = in.background;
  if (b.type() != CV_32FC3) throw DataError("sr_bicubic: needs an RGB float image");
  if (b.rows % o_.scale != 0 || b.cols % o_.scale != 0)
    throw DataError(fmt::format("sr_bicubic: a {}x{} image is not a multiple of the scale {} (set data.crop, "
                                "data.builtin.heldout_size to multiples of it)",
                                b.cols, b.rows, o_.scale));
  torch::NoGradGuard g;
  const auto x = torch::from_blob(const_cast<float*>(b.ptr<float>()), {1, b.rows, b.cols, 3}, torch::kFloat32)
                     .permute({0, 3, 1, 2})
                     .to(torch::kFloat64);  // resampled in double, stored as float
  const auto lo = bicubic_resize(x, b.rows / o_.scale, b.cols / o_.scale, o_.convention);
  const auto up = bicubic_resize(lo, b.rows, b.cols, o_.convention).clamp(0, 1);
  const auto hwc = up.permute({0, 2, 3, 1}).contiguous().to(torch::kFloat32);
  cv::Mat input(b.rows, b.cols, CV_32FC3);
  std::memcpy(input.ptr<float>(), hwc.data_ptr<float>(), sizeof(float) * static_cast<size_t>(hwc.numel()));
  cv::Mat noise = (input - b) * 0.5 + cv::Scalar::all(0.5);
  return SynthOutput{b.clone(), noise, input, {}};
}

void register_sr_synth() {
  register_task("sr", "super-resolution, bicubic x4 (Physics-GAN); no column in `report systems`: no system reports an SR benchmark here", false);
  synths().add("sr_bicubic",
               "Physics-GAN's super-resolution data: I = bicubic up(down(B)) at synth.sr_bicubic.scale "
               "([synth.sr_bicubic])",
               [](const Config& full) -> SynthPtr { return std::make_shared<SrBicubic>(SrOptions::from_config(full)); });
}

}  // namespace dmgn::data
