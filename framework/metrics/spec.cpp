#include "metrics/spec.h"

#include <fmt/format.h>
#include <fmt/ranges.h>  // fmt::join (its home since fmt 11)

#include <cmath>

#include "core/error.h"
#include "core/log.h"

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

std::vector<std::string> preset_names() {
  return {"real20",        "rain100",     "sots", "basicsr", "skimage", "basicsr_y",
          "location_sirr", "physics_gan", "mbn",  "mbn_rgb"};
}

Spec preset(const std::string& name) {
  Spec s;  // defaults: RGB, float, range 255, crop 0, joint, gaussian 11/1.5, .01/.03, pop, valid
  s.name = name;
  if (name == "real20") {
    s.psnr = Spec::Psnr::channel_mean;
    s.window = Spec::Window::uniform;
    s.window_size = 7;
    s.sample_covariance = true;
  } else if (name == "rain100") {
    s.color = Spec::Color::y;
  } else if (name == "sots") {
    s.data_range = 1.0;
    s.boundary = Spec::Boundary::zero;
  } else if (name == "basicsr") {
  } else if (name == "skimage") {
    s.quantise = true;
  } else if (name == "location_sirr") {
    s.data_range = 1.0;
    s.window = Spec::Window::uniform;
    s.window_size = 7;
    s.sample_covariance = true;
  } else if (name == "physics_gan") {
    // Physics-GAN's release (util/compute_diff.m, ssim_index.m): uint8 images, PSNR over every
    // value with peak 255, Wang's ssim_index (Gaussian 11/1.5, K .01/.03, valid, L 255). That
    // SSIM takes 2-D images only, so the release scored one channel: luminance (BT.601 Y) is
    // assumed for both. Its shave by the SR factor applies to SR only (eval.custom for that).
    s.quantise = true;
    s.color = Spec::Color::y;
  } else if (name == "basicsr_y") {
    s.quantise = true;
    s.color = Spec::Color::y;
  } else if (name == "mbn" || name == "mbn_rgb") {
    // MBN's test scripts: x255 in float32 then astype(uint8) on output and ground truth, cv2's
    // full-range Y for blur / rain / JPEG, skimage 0.x compare_psnr / compare_ssim defaults.
    s.quantise = true;
    s.truncate = true;
    s.color = name == "mbn" ? Spec::Color::y_full : Spec::Color::rgb;
    s.window = Spec::Window::uniform;
    s.window_size = 7;
    s.sample_covariance = true;
  } else {
    throw ConfigError(fmt::format("unknown metric preset '{}' (known: {})", name, known_names()));
  }
  return s;
}

Spec task_spec(const std::string& task) {
  if (task == "reflection") return preset("real20");
  if (task == "rain") return preset("rain100");
  if (task == "haze") return preset("sots");
  if (task == "blur" || task == "sr") return preset("physics_gan");  // the one system with these tasks
  if (task == "jpeg") return preset("mbn");                         // likewise (MBN)
  if (task == "mixed") return preset("mbn_rgb");
  throw ConfigError(fmt::format(
      "config key 'task.name': '{}' is not one of reflection, rain, haze, blur, sr, jpeg, mixed", task));
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
      s = preset(name == "mbn" && (t == "haze" || t == "mixed") ? "mbn_rgb" : name);
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
