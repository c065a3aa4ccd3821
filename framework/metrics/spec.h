#pragma once
// metrics::Spec: one PSNR/SSIM convention, described completely. Benchmarks disagree on
// almost every step (shared/NOTES.md), so every reported number names the Spec that produced
// it: Spec::describe() is one line, stored as the run's provenance "metric_spec" and printed
// by `dmgn eval` / `dmgn score`; the store's metric rows carry Spec::name.
//
// What metrics::assess (psnr_ssim.h) does to an image pair, in order:
//   1. clip to [0,1]; `quantise`: round(x*255) to integers (half to even, as numpy/OpenCV),
//      i.e. what a script sees after the images were saved as 8-bit PNGs;
//      with `truncate`, floor(float32(x) * 255) instead: numpy's astype(uint8) after x *= 255
//      in float32, as MBN's test scripts convert both the output and the ground truth;
//   2. colour `rgb`: every channel; `y`: one plane, Y of BT.601 as MATLAB rgb2ycbcr (with the
//      +16 offset): Y = 16 + 65.481 R + 128.553 G + 24.966 B on [0,1] RGB, in [16,235] at
//      range 255 (BasicSR's bgr2ycbcr y_only gives the same Y; it computes it in float32);
//      `y_full`: full-range Y as OpenCV's COLOR_RGB2YCrCb: on quantised images its integer
//      arithmetic, Y = (4899 R + 9617 G + 1868 B + 2^13) >> 14 on 0..255 values (a uint8 plane),
//      otherwise 0.299 R + 0.587 G + 0.114 B;
//   3. working scale `data_range` (255 or 1): pixel values are x*range; PSNR peak and SSIM's L;
//   4. `crop_border` pixels removed from every side (BasicSR crop_border), for PSNR and SSIM;
//   5. PSNR = 10 log10(range^2 / MSE). `joint`: one MSE over all channels (skimage
//      peak_signal_noise_ratio, BasicSR); `channel_mean`: mean of per-channel PSNRs (ERRNet).
//      A zero MSE gives kPsnrCap (100 dB) where skimage and BasicSR return inf;
//   6. SSIM (Wang et al. 2004) per channel, mean of its map, then the mean over channels.
//      Window `gaussian` (window_size taps, sigma; skimage's gaussian_weights=True uses
//      2*int(3.5*sigma+0.5)+1 taps: 11 for sigma 1.5) or `uniform` (window_size^2 box);
//      C1 = (k1*range)^2, C2 = (k2*range)^2; variances normalised by the window weights
//      (population, Wang/MATLAB/BasicSR) or times NP/(NP-1), NP = window_size^2
//      (`sample_covariance`, skimage's default). Boundary `valid`: only windows inside the
//      image (= skimage's map cropped by (window_size-1)/2 = MATLAB/BasicSR 'valid');
//      `zero`: zero padding by (window_size-1)/2, a map of the image's size (pytorch-ssim,
//      FFA-Net).
// Everything runs in double; NaN inputs give NaN.
//
// Named presets (preset(); registered, see register_preset below):
//   real20    ERRNet util/index.py = official DMGN assess.py (Real20, SIR^2): RGB, float (not
//             quantised), range 255, PSNR channel_mean, SSIM uniform 7, K .01/.03, sample
//             covariance, valid (skimage structural_similarity defaults per channel).
//   rain100   PReNet statistic/*.m (Rain100L/H): Y, float, range 255 (PSNR peak 1 on Y in
//             [0,1] is the same number), gaussian 11/1.5, K .01/.03, population, valid.
//   sots      FFA-Net net/metrics.py = pytorch-ssim (SOTS): RGB, float, range 1, PSNR joint,
//             gaussian 11/1.5, K .01/.03, population, zero padding.
//   basicsr   BasicSR calculate_psnr/calculate_ssim, RGB, crop 0, on float images: range
//             255, PSNR joint, gaussian 11/1.5, K .01/.03, population, valid.
//   skimage   skimage peak_signal_noise_ratio(data_range=255) and structural_similarity(
//             gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255,
//             channel_axis=-1) on uint8 images: as basicsr, quantised.
//   basicsr_y BasicSR with test_y_channel=True on uint8 outputs: as skimage on the Y plane.
//   location_sirr  Location-aware SIRR's release (utils.compare_psnr_ssim): skimage
//             peak_signal_noise_ratio and structural_similarity(multichannel=True) with their
//             defaults on float [0, 1] images, data_range 1: RGB, float, PSNR joint, SSIM uniform
//             7, K .01/.03, sample covariance, valid.
//   mbn       MBN's test_MBN.py / test_RMBN.py: both images truncated to uint8 (astype after
//             x 255 in float32), full-range Y (cv2 COLOR_RGB2YCR_CB), skimage 0.x compare_psnr and
//             compare_ssim defaults (range 255, PSNR joint, SSIM uniform 7, K .01/.03, sample
//             covariance, valid). Blur, rain and JPEG; with task "haze" (and "mixed") eval.metric
//             "mbn" becomes `mbn_rgb`: the same on RGB (the scripts' multichannel=True).
//   mbn_rgb   as mbn on every RGB channel.
//   physics_gan  Physics-GAN's release (util/compute_diff.m with Wang's ssim_index.m): uint8,
//             PSNR peak 255 over every value, SSIM Gaussian 11/1.5, K .01/.03, population,
//             valid; on BT.601 Y (ssim_index takes 2-D images; the channel is an assumption).
// "custom" is read from [eval.custom]; "auto" picks the task's benchmark (reflection ->
// real20, rain -> rain100, haze -> sots, blur and sr -> physics_gan, jpeg -> mbn, mixed -> mbn_rgb). eval.crop_border >= 0 overrides any preset's crop
// (the name then gets a "+cropN" suffix).
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/config.h"

namespace dmgn::metrics {

struct Spec {
  enum class Color { rgb, y, y_full };
  enum class Psnr { joint, channel_mean };
  enum class Window { gaussian, uniform };
  enum class Boundary { valid, zero };

  std::string name = "custom";
  Color color = Color::rgb;
  bool quantise = false;
  bool truncate = false;  // quantise by floor(float32(x) * 255) (needs quantise)
  double data_range = 255.0;  // 255 or 1
  int64_t crop_border = 0;
  Psnr psnr = Psnr::joint;
  Window window = Window::gaussian;
  int64_t window_size = 11;  // odd, >= 3
  double sigma = 1.5;        // gaussian only
  double k1 = 0.01, k2 = 0.03;
  bool sample_covariance = false;
  Boundary boundary = Boundary::valid;

  // "skimage: RGB u8 range=255 crop=0 psnr=joint ssim=gaussian(11,1.5) K=(0.01,0.03)
  //  cov=population boundary=valid" (one line).
  std::string describe() const;
  // Throws ConfigError naming the field ("config key '<key_prefix><field>'" when key_prefix
  // is given, else "metric spec '<name>' field '<field>'") for a value out of range.
  void validate(const std::string& key_prefix = "") const;
  // Smallest image side the spec accepts: 2*crop_border + (window_size for valid, 1 for zero).
  int64_t min_side() const;
};

// The metric preset registry (kind "metric", config key eval.metric): each convention is
// registered by the file that owns it, the benchmarks' shared ones by metrics::register_builtins
// (real20, rain100, sots, basicsr, skimage, basicsr_y), a system's own by its folder
// (framework/systems/<name>/register.cpp: location_sirr, physics_gan, mbn, mbn_rgb).
struct Preset {
  Spec spec;                              // spec.name is set to the registered name
  std::vector<std::string> default_for;   // tasks whose "auto" convention this is
  std::map<std::string, std::string> on_task;  // task -> the preset used instead on it (mbn -> mbn_rgb on haze)
  std::string paper;                      // whose convention, for table headers ("Physics-GAN")
};
void register_preset(const std::string& name, const std::string& description, Preset preset);
// Fills the registry with the benchmarks' shared presets (and [eval.custom]'s checks need none).
void register_builtins();
std::vector<std::string> preset_names();  // the registered presets, in registration order
// A registered preset; unknown names throw ConfigError listing the known ones (and custom, auto).
Spec preset(const std::string& name);
// The registered Preset (spec, default tasks, per-task variant, paper) of `name`.
Preset preset_entry(const std::string& name);
// The task's benchmark convention: the preset registered as its default (reflection -> real20,
// rain -> rain100, haze -> sots, blur and sr -> physics_gan, jpeg -> mbn, mixed -> mbn_rgb).
// ConfigError naming task.name for a task with none.
Spec task_spec(const std::string& task);
// [eval.custom] as a Spec named "custom"; errors name the key (eval.custom.<field>).
Spec custom_spec(const Config& cfg);
// eval.metric: "auto" (task_spec of `task`, or of task.name when `task` is empty), a preset
// name (a preset's on_task variant on that task: "mbn" on haze / mixed data: "mbn_rgb"), or
// "custom"; then eval.crop_border. Warns when
// [eval.custom] differs from its defaults but is not used.
Spec spec_from_config(const Config& cfg, const std::string& task = "");

}  // namespace dmgn::metrics
