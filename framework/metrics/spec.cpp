#include "metrics/spec.h"

#include <fmt/format.h>
#include <fmt/ranges.h>  // fmt::join (its home since fmt 11)

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/log.h"
#include "core/registry.h"
#include "core/tasks.h"

namespace dmgn::metrics {

namespace {

const char* psnr_name(Spec::Psnr p) { return p == Spec::Psnr::joint ? "joint" : "channel_mean"; }
const char* boundary_name(Spec::Boundary b) { return b == Spec::Boundary::valid ? "valid" : "zero"; }

// The keys of [eval.custom], in documentation order.
const std::vector<std::string>& custom_keys() {
  static const std::vector<std::string> keys = {
      "color",  "quantise", "data_range", "crop_border", "psnr",  "window", "window_size",
      "sigma",  "k1",       "k2",         "sample_covariance",    "boundary"};
  return keys;
}

// The value of a string key that must be one of `a` or `b` (as 0 or 1).
int choice(const Config& cfg, const std::string& key, const char* a, const char* b) {
  const std::string v = cfg.get_string(key);
  if (v == a) return 0;
  if (v == b) return 1;
  throw ConfigError(fmt::format("config key '{}': '{}' is not one of {}, {}", key, v, a, b));
}

std::string known_names() {
  std::string known;
  for (const auto& n : preset_names()) known += n + ", ";
  return known + "custom ([eval.custom]), auto (the task's benchmark)";
}

}  // namespace

std::string Spec::describe() const {
  std::string ssim_window =
      window == Window::gaussian ? fmt::format("gaussian({},{})", window_size, sigma)
                                 : fmt::format("uniform({})", window_size);
  return fmt::format("{}: {} {} range={} crop={} psnr={} ssim={} K=({},{}) cov={} boundary={}", name,
                     color == Color::rgb ? "RGB" : color == Color::y ? "Y(BT.601)" : "Y(full-range, OpenCV)",
                     quantise ? (truncate ? "u8(truncated)" : "u8") : "float", data_range,
                     crop_border, psnr_name(psnr), ssim_window, k1, k2,
                     sample_covariance ? "sample" : "population", boundary_name(boundary));
}

void Spec::validate(const std::string& key_prefix) const {
  auto fail = [&](const char* field, const std::string& problem) {
    if (!key_prefix.empty())
      throw ConfigError(fmt::format("config key '{}{}': {}", key_prefix, field, problem));
    throw ConfigError(fmt::format("metric spec '{}' field '{}': {}", name, field, problem));
  };
  if (!(data_range == 255.0 || data_range == 1.0))
    fail("data_range", fmt::format("{} is not 255 or 1 (the working scale of [0,1] images)", data_range));
  if (crop_border < 0) fail("crop_border", fmt::format("{} must be 0 or more pixels", crop_border));
  if (window_size < 3 || window_size % 2 == 0)
    fail("window_size", fmt::format("{} must be odd and at least 3", window_size));
  if (window == Window::gaussian && !(sigma > 0.0 && std::isfinite(sigma)))
    fail("sigma", fmt::format("{} must be positive", sigma));
  if (!(k1 > 0.0 && std::isfinite(k1))) fail("k1", fmt::format("{} must be positive", k1));
  if (!(k2 > 0.0 && std::isfinite(k2))) fail("k2", fmt::format("{} must be positive", k2));
}

int64_t Spec::min_side() const {
  return 2 * crop_border + (boundary == Boundary::valid ? window_size : 1);
}

namespace {

using PresetRegistry = Registry<Preset>;
PresetRegistry& presets() {
  static PresetRegistry r("metric");
  return r;
}

}  // namespace

void register_preset(const std::string& name, const std::string& description, Preset p) {
  p.spec.name = name;
  p.spec.validate();
  presets().add(name, description, [p] { return p; });
}

void register_builtins() {
  Preset real20;  // defaults: RGB, float, range 255, crop 0, joint, gaussian 11/1.5, .01/.03, pop, valid
  real20.spec.psnr = Spec::Psnr::channel_mean;
  real20.spec.window = Spec::Window::uniform;
  real20.spec.window_size = 7;
  real20.spec.sample_covariance = true;
  real20.default_for = {"reflection"};
  real20.paper = "DMGN / ERRNet";
  register_preset("real20", "ERRNet util/index.py = official DMGN assess.py (Real20, SIR^2)", real20);

  Preset rain100;
  rain100.spec.color = Spec::Color::y;
  rain100.default_for = {"rain"};
  rain100.paper = "DMGN rain";
  register_preset("rain100", "PReNet statistic/*.m (Rain100L/H): Y, Gaussian SSIM", rain100);

  Preset sots;
  sots.spec.data_range = 1.0;
  sots.spec.boundary = Spec::Boundary::zero;
  sots.default_for = {"haze"};
  sots.paper = "DMGN haze";
  register_preset("sots", "FFA-Net net/metrics.py = pytorch-ssim (SOTS): zero-padded SSIM, range 1", sots);

  register_preset("basicsr", "BasicSR calculate_psnr / calculate_ssim on float RGB images", Preset{});

  Preset skimage;
  skimage.spec.quantise = true;
  register_preset("skimage", "skimage PSNR / Gaussian SSIM on uint8 RGB images", skimage);

  Preset basicsr_y;
  basicsr_y.spec.quantise = true;
  basicsr_y.spec.color = Spec::Color::y;
  register_preset("basicsr_y", "BasicSR test_y_channel=True on uint8 outputs", basicsr_y);
}

std::vector<std::string> preset_names() { return presets().names_in_order(); }

Preset preset_entry(const std::string& name) {
  if (!presets().contains(name))
    throw ConfigError(fmt::format("unknown metric preset '{}' (known: {})", name, known_names()));
  return presets().make(name);
}

Spec preset(const std::string& name) { return preset_entry(name).spec; }

Spec task_spec(const std::string& task) {
  for (const auto& name : preset_names()) {
    const Preset p = presets().make(name);
    if (std::find(p.default_for.begin(), p.default_for.end(), task) != p.default_for.end()) return p.spec;
  }
  std::vector<std::string> known;
  for (const auto& t : task_names())
    for (const auto& name : preset_names()) {
      const auto d = presets().make(name).default_for;
      if (std::find(d.begin(), d.end(), t) != d.end()) known.push_back(t);
    }
  throw ConfigError(fmt::format("config key 'task.name': '{}' is not a task with a metric convention (known: {})",
                                task, fmt::join(known, ", ")));
}

Spec custom_spec(const Config& cfg) {
  const std::string p = "eval.custom.";
  Spec s;
  s.name = "custom";
  const std::string color = cfg.get_string(p + "color");
  if (color != "rgb" && color != "y" && color != "y_full")
    throw ConfigError(fmt::format("config key '{}color': '{}' is not one of rgb, y, y_full", p, color));
  s.color = color == "y" ? Spec::Color::y : color == "y_full" ? Spec::Color::y_full : Spec::Color::rgb;
  s.quantise = cfg.get_bool(p + "quantise");
  s.data_range = cfg.get_float(p + "data_range");
  s.crop_border = cfg.get_int(p + "crop_border");
  s.psnr = choice(cfg, p + "psnr", "joint", "channel_mean") ? Spec::Psnr::channel_mean : Spec::Psnr::joint;
  s.window = choice(cfg, p + "window", "gaussian", "uniform") ? Spec::Window::uniform : Spec::Window::gaussian;
  s.window_size = cfg.get_int(p + "window_size");
  s.sigma = cfg.get_float(p + "sigma");
  s.k1 = cfg.get_float(p + "k1");
  s.k2 = cfg.get_float(p + "k2");
  s.sample_covariance = cfg.get_bool(p + "sample_covariance");
  s.boundary = choice(cfg, p + "boundary", "valid", "zero") ? Spec::Boundary::zero : Spec::Boundary::valid;
  s.validate(p);
  return s;
}

Spec spec_from_config(const Config& cfg, const std::string& task) {
  const std::string name = cfg.get_string("eval.metric");
  Spec s;
  if (name == "auto") {
    s = task_spec(task.empty() ? cfg.get_string("task.name") : task);
  } else if (name == "custom") {
    s = custom_spec(cfg);
  } else {
    try {
      const std::string t = task.empty() ? cfg.get_string("task.name") : task;
      const Preset p = preset_entry(name);
      const auto variant = p.on_task.find(t);
      s = variant == p.on_task.end() ? p.spec : preset(variant->second);
    } catch (const ConfigError& e) {
      throw ConfigError(fmt::format("config key 'eval.metric': {}", e.what()));
    }
  }
  if (name != "custom") {  // a changed [eval.custom] that is not used is worth a word
    const Config defaults = Config::defaults();
    std::vector<std::string> changed;
    for (const auto& k : custom_keys()) {
      const std::string key = "eval.custom." + k;
      const auto a = cfg.root().at_path(key), b = defaults.root().at_path(key);
      const bool same = a.is_number() && b.is_number() ? a.value<double>() == b.value<double>() : a == b;
      if (!same) changed.push_back(key);
    }
    if (!changed.empty())
      log::warn(fmt::format("{} set but eval.metric is '{}', not 'custom': ignored",
                            fmt::join(changed, ", "), name));
  }
  const int64_t crop = cfg.get_int("eval.crop_border");
  if (crop < -1)
    throw ConfigError(fmt::format("config key 'eval.crop_border': {} must be -1 (the preset's own) or 0 or more", crop));
  if (crop >= 0 && crop != s.crop_border) {
    s.crop_border = crop;
    s.name += fmt::format("+crop{}", crop);
  }
  return s;
}

}  // namespace dmgn::metrics
