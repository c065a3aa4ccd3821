// metrics/psnr_ssim.h against the Python references: tests/python/check_metrics.py (skimage
// for real20, numpy/scipy/torch reimplementations of rain100, sots, basicsr on synthetic
// images) and tests/python/check_metrics_photos.py (scikit-image itself on degraded real
// photos: skimage, basicsr_y with a border crop, real20); pure C++ properties; metrics/macs.h.
// Spec selection, config keys and `dmgn score`: test_metrics_spec.cpp.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"
#include "data/image_io.h"
#include "metrics/macs.h"
#include "core/tasks.h"
#include "metrics/psnr_ssim.h"
#include "metrics/spec.h"

namespace fs = std::filesystem;
namespace m = dmgn::metrics;

namespace {

// Reads a little-endian float32 C-order .npy file (as numpy.save writes it).
torch::Tensor load_npy_f32(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + file.string());
  char magic[8];
  in.read(magic, 8);
  if (!in || std::memcmp(magic, "\x93NUMPY", 6) != 0)
    throw std::runtime_error(file.string() + ": not a .npy file");
  uint32_t header_len = 0;
  if (magic[6] == 1) {
    unsigned char b[2];
    in.read(reinterpret_cast<char*>(b), 2);
    header_len = b[0] | (b[1] << 8);
  } else {
    unsigned char b[4];
    in.read(reinterpret_cast<char*>(b), 4);
    header_len = b[0] | (b[1] << 8) | (b[2] << 16) | (static_cast<uint32_t>(b[3]) << 24);
  }
  std::string header(header_len, '\0');
  in.read(header.data(), header_len);
  if (header.find("'descr': '<f4'") == std::string::npos ||
      header.find("'fortran_order': False") == std::string::npos)
    throw std::runtime_error(file.string() + ": expected C-order <f4, header " + header);
  const auto open = header.find('(', header.find("'shape'"));
  const auto close = header.find(')', open);
  std::vector<int64_t> shape;
  std::string dims = header.substr(open + 1, close - open - 1);
  for (size_t pos = 0; pos < dims.size();) {
    size_t next = dims.find(',', pos);
    if (next == std::string::npos) next = dims.size();
    const std::string d = dims.substr(pos, next - pos);
    if (d.find_first_of("0123456789") != std::string::npos) shape.push_back(std::stoll(d));
    pos = next + 1;
  }
  auto t = torch::empty(shape, torch::kFloat32);
  in.read(reinterpret_cast<char*>(t.data_ptr<float>()),
          static_cast<std::streamsize>(t.numel() * sizeof(float)));
  if (!in) throw std::runtime_error(file.string() + ": truncated data");
  return t;
}

// Value of "key" in a flat one-line JSON object: a string (unquoted here) or a number.
std::string json_field(const std::string& line, const std::string& key) {
  const std::string tag = "\"" + key + "\": ";
  auto pos = line.find(tag);
  if (pos == std::string::npos) return {};
  pos += tag.size();
  if (line[pos] == '"') return line.substr(pos + 1, line.find('"', pos + 1) - pos - 1);
  return line.substr(pos, line.find_first_of(",}", pos) - pos);
}

struct Reference {
  std::string name, out, gt, preset;
  int64_t crop = 0;
  double psnr = 0, ssim = 0;
};

fs::path scratch_dir(const std::string& tag) {
  const char* env = std::getenv("DMGN_TEST_TMP");
  fs::path base = env ? fs::path(env) : fs::temp_directory_path();
  fs::path dir = base / (tag + "_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return dir;
}

// A smooth 3xHxW image in [0,1] plus seeded noise.
torch::Tensor test_image(int64_t h, int64_t w, double noise, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto y = torch::linspace(0, 1, h, torch::kFloat64).view({1, h, 1});
  auto x = torch::linspace(0, 1, w, torch::kFloat64).view({1, 1, w});
  auto c = torch::tensor({0.0, 1.0, 2.0}, torch::kFloat64).view({3, 1, 1});
  auto img = 0.5 + 0.35 * torch::sin(6.0 * x + 4.0 * y + c) * torch::cos(3.0 * y - c);
  img = img + noise * torch::randn({3, h, w}, gen, torch::kFloat64);
  return img.to(torch::kFloat32);
}

std::vector<m::Spec> all_presets() {
  std::vector<m::Spec> v;
  for (const auto& name : m::preset_names()) v.push_back(m::preset(name));
  return v;
}

// Runs `/usr/bin/python3 script dir`: the records it prints, or `skip` set with the reason
// (exit 77 or no interpreter), or a gtest failure.
std::vector<Reference> run_reference(const fs::path& script, const fs::path& dir, std::string& skip) {
  const std::string python = "/usr/bin/python3";
  std::vector<Reference> refs;
  if (!fs::exists(python)) {
    skip = python + " not found: cannot run the reference";
    return refs;
  }
  EXPECT_TRUE(fs::exists(script)) << "run from the repository root: " << script << " missing";
  const std::string cmd = python + " " + script.string() + " '" + dir.string() + "' 2>&1";
  FILE* pipe = ::popen(cmd.c_str(), "r");
  EXPECT_NE(pipe, nullptr) << "popen failed: " << cmd;
  if (!pipe) return refs;
  std::string output;
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof buf, pipe)) output.append(buf, n);
  const int status = ::pclose(pipe);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
    skip = output;
    return refs;
  }
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << cmd << " failed:\n" << output;
  std::istringstream lines(output);
  for (std::string line; std::getline(lines, line);) {
    if (line.find("\"preset\"") == std::string::npos) continue;
    const std::string crop = json_field(line, "crop");
    refs.push_back({json_field(line, "name"), json_field(line, "out"), json_field(line, "gt"),
                    json_field(line, "preset"), crop.empty() ? 0 : std::stoll(crop),
                    std::stod(json_field(line, "psnr")), std::stod(json_field(line, "ssim"))});
  }
  return refs;
}

}  // namespace

TEST(Metrics, MatchesPythonReferences) {
  const fs::path dir = scratch_dir("dmgn_metrics_ref");
  std::string skip;
  const auto refs = run_reference("tests/python/check_metrics.py", dir, skip);
  if (!skip.empty()) {
    fs::remove_all(dir);
    GTEST_SKIP() << skip;
  }
  ASSERT_EQ(refs.size(), 24u);  // 4 pairs x 6 presets

  std::map<std::string, std::pair<double, double>> worst;  // preset -> max |dpsnr|, |dssim|
  for (const auto& r : refs) {
    const auto out = load_npy_f32(r.out), gt = load_npy_f32(r.gt);
    const m::Spec spec = m::preset(r.preset);
    const m::Quality q = m::assess(out, gt, spec);
    const double dp = std::abs(q.psnr - r.psnr), ds = std::abs(q.ssim - r.ssim);
    auto& w = worst[r.preset];
    w.first = std::max(w.first, dp);
    w.second = std::max(w.second, ds);
    const double tol = r.preset == "real20" ? 1e-6 : 1e-5;
    EXPECT_NEAR(q.psnr, r.psnr, tol) << r.name << " " << r.preset;
    EXPECT_NEAR(q.ssim, r.ssim, tol) << r.name << " " << r.preset;
    // psnr()/ssim() alone agree with assess(), and a batch of one is the same image.
    EXPECT_EQ(m::psnr(out, gt, spec), q.psnr);
    EXPECT_EQ(m::ssim(out, gt, spec), q.ssim);
    EXPECT_NEAR(m::assess(out.unsqueeze(0), gt.unsqueeze(0), spec).ssim, q.ssim, 1e-15);
  }
  for (const auto& [preset, w] : worst)
    std::printf("[ metrics ] %-8s max |dPSNR| = %.3g dB, max |dSSIM| = %.3g\n", preset.c_str(),
                w.first, w.second);
  fs::remove_all(dir);
}

// The acceptance check of the skimage / Y conventions: scikit-image itself on degraded real
// photos saved as 8-bit PNGs, read back with data::read_image, agree to 1e-4.
TEST(Metrics, MatchesSkimageOnRealPhotos) {
  const fs::path dir = scratch_dir("dmgn_metrics_photos");
  std::string skip;
  const auto refs = run_reference("tests/python/check_metrics_photos.py", dir, skip);
  if (!skip.empty()) {
    fs::remove_all(dir);
    GTEST_SKIP() << skip;
  }
  ASSERT_EQ(refs.size(), 36u);  // 6 photos x 2 degradations x 3 conventions

  struct Worst {
    double d = 0;
    std::string at;
    void update(double diff, const std::string& name) {
      if (diff >= d) d = diff, at = name;
    }
  };
  std::map<std::string, std::pair<Worst, Worst>> worst;  // convention -> PSNR, SSIM
  std::map<std::string, torch::Tensor> cache;
  auto image = [&](const std::string& path) {
    auto it = cache.find(path);
    if (it == cache.end()) it = cache.emplace(path, dmgn::data::to_tensor(dmgn::data::read_image(path))).first;
    return it->second;
  };
  for (const auto& r : refs) {
    m::Spec spec = m::preset(r.preset);
    spec.crop_border = r.crop;
    const m::Quality q = m::assess(image(r.out), image(r.gt), spec);
    EXPECT_NEAR(q.psnr, r.psnr, 1e-4) << r.name << " " << r.preset;
    EXPECT_NEAR(q.ssim, r.ssim, 1e-4) << r.name << " " << r.preset;
    auto& w = worst[r.preset + (r.crop ? "+crop" + std::to_string(r.crop) : "")];
    w.first.update(std::abs(q.psnr - r.psnr), r.name);
    w.second.update(std::abs(q.ssim - r.ssim), r.name);
  }
  for (const auto& [preset, w] : worst)
    std::printf("[ photos  ] %-15s max |dPSNR| = %.3g dB (%s), max |dSSIM| = %.3g (%s)\n",
                preset.c_str(), w.first.d, w.first.at.c_str(), w.second.d, w.second.at.c_str());
  // The same Y convention chosen through the config keys.
  const m::Spec by_config = m::spec_from_config(
      dmgn::Config::defaults({"eval.metric=basicsr_y", "eval.crop_border=4"}));
  EXPECT_EQ(by_config.name, "basicsr_y+crop4");
  for (const auto& r : refs)
    if (r.preset == "basicsr_y") {
      const m::Quality q = m::assess(image(r.out), image(r.gt), by_config);
      EXPECT_NEAR(q.psnr, r.psnr, 1e-4) << r.name;
      EXPECT_NEAR(q.ssim, r.ssim, 1e-4) << r.name;
      break;
    }
  fs::remove_all(dir);
}

TEST(Metrics, IdentityKnownMseSymmetryBatch) {
  const auto a = test_image(40, 36, 0.05, 1), b = test_image(40, 36, 0.05, 2);
  for (const m::Spec& p : all_presets()) {
    SCOPED_TRACE(p.name);
    EXPECT_EQ(m::psnr(a, a, p), m::kPsnrCap);
    EXPECT_NEAR(m::ssim(a, a, p), 1.0, 1e-12);
    EXPECT_NEAR(m::ssim(a, b, p), m::ssim(b, a, p), 1e-12);
    EXPECT_NEAR(m::psnr(a, b, p), m::psnr(b, a, p), 1e-12);
    EXPECT_LT(m::ssim(a, b, p), 1.0);
    EXPECT_LT(m::psnr(a, b, p), 40.0);
    // A batch is the mean of its images.
    const auto batch_out = torch::stack({a, b}), batch_gt = torch::stack({b, b});
    const m::Quality qa = m::assess(a, b, p), qb = m::assess(b, b, p);
    const m::Quality q = m::assess(batch_out, batch_gt, p);
    EXPECT_NEAR(q.psnr, (qa.psnr + qb.psnr) / 2, 1e-12);
    EXPECT_NEAR(q.ssim, (qa.ssim + qb.ssim) / 2, 1e-12);
    // Double inputs give the float result up to float rounding of the input only.
    EXPECT_NEAR(m::ssim(a.to(torch::kFloat64), b.to(torch::kFloat64), p), qa.ssim, 1e-12);
  }
  // Known MSE: a constant offset of 0.1 on [0,1] -> 20 dB (peak 1 on [0,1], or 255 on x255).
  const auto gt = torch::full({3, 16, 16}, 0.5), out = gt + 0.1;
  for (const char* name : {"real20", "sots", "basicsr"})
    EXPECT_NEAR(m::psnr(out, gt, m::preset(name)), 20.0, 1e-5) << name;
  // rain100: the Y offset is 0.1 * (65.481 + 128.553 + 24.966) / 255.
  EXPECT_NEAR(m::psnr(out, gt, m::preset("rain100")), -20.0 * std::log10(0.1 * 219.0 / 255.0),
              1e-5);
  // Clipping to [0,1]: values beyond the range count as 0 or 1.
  const auto over = gt.clone().fill_(1.0), way_over = gt.clone().fill_(3.0);
  for (const m::Spec& p : all_presets()) {
    EXPECT_EQ(m::psnr(way_over, over, p), m::kPsnrCap) << p.name;
    EXPECT_NEAR(m::ssim(way_over, over, p), 1.0, 1e-12) << p.name;
  }
  // A per-channel PSNR mean (real20) differs from one over all channels (basicsr).
  auto uneven = gt.clone();
  uneven[0] += 0.1;
  EXPECT_NEAR(m::psnr(uneven, gt, m::preset("basicsr")), 20.0 + 10 * std::log10(3.0), 1e-5);
  EXPECT_NEAR(m::psnr(uneven, gt, m::preset("real20")), (20.0 + 2 * m::kPsnrCap) / 3, 1e-5);
}

// Location-aware SIRR's release: skimage's defaults on float [0, 1] images, data_range 1.
TEST(Metrics, LocationSirrPresetIsSkimageDefaultsOnFloats) {
  const auto s = m::preset("location_sirr");
  EXPECT_EQ(s.color, m::Spec::Color::rgb);
  EXPECT_FALSE(s.quantise);
  EXPECT_EQ(s.data_range, 1.0);
  EXPECT_EQ(s.psnr, m::Spec::Psnr::joint);
  EXPECT_EQ(s.window, m::Spec::Window::uniform);
  EXPECT_EQ(s.window_size, 7);
  EXPECT_TRUE(s.sample_covariance);
  EXPECT_EQ(s.boundary, m::Spec::Boundary::valid);
  // Same SSIM as real20 (the window and covariance are the same; the range cancels), PSNR joint.
  const auto gt = torch::rand({3, 24, 24}, torch::kFloat64), out = (gt + 0.05 * torch::randn_like(gt)).clamp(0, 1);
  EXPECT_NEAR(m::ssim(out, gt, s), m::ssim(out, gt, m::preset("real20")), 1e-9);
  EXPECT_NEAR(m::psnr(out, gt, s), m::psnr(out, gt, m::preset("basicsr")), 1e-9);
}

// Physics-GAN's release (compute_diff.m + Wang's ssim_index.m on uint8 luminance): the same
// numbers as BasicSR's Y-channel convention, and the default of the blur and sr tasks.
TEST(Metrics, PhysicsGanPresetIsWangsSsimOnUint8Luminance) {
  const m::Spec s = m::preset("physics_gan");
  EXPECT_TRUE(s.quantise);
  EXPECT_EQ(s.color, m::Spec::Color::y);
  EXPECT_EQ(s.window, m::Spec::Window::gaussian);
  EXPECT_EQ(s.window_size, 11);
  EXPECT_EQ(s.data_range, 255.0);
  EXPECT_EQ(s.boundary, m::Spec::Boundary::valid);
  EXPECT_FALSE(s.sample_covariance);
  const auto gt = torch::rand({3, 24, 24}, torch::kFloat64), out = (gt + 0.05 * torch::randn_like(gt)).clamp(0, 1);
  EXPECT_DOUBLE_EQ(m::ssim(out, gt, s), m::ssim(out, gt, m::preset("basicsr_y")));
  EXPECT_DOUBLE_EQ(m::psnr(out, gt, s), m::psnr(out, gt, m::preset("basicsr_y")));
  EXPECT_EQ(m::task_spec("blur").name, "physics_gan");
  EXPECT_EQ(m::task_spec("sr").name, "physics_gan");
}

TEST(Metrics, PresetNamesAndErrors) {
  // The registry: the benchmarks' shared conventions first (metrics::register_builtins), then
  // each system's own, registered by its folder; every registered task has a default.
  const auto names = m::preset_names();
  const std::vector<std::string> shared = {"real20", "rain100", "sots", "basicsr", "skimage", "basicsr_y"};
  ASSERT_GE(names.size(), shared.size());
  EXPECT_EQ(std::vector<std::string>(names.begin(), names.begin() + 6), shared);
  for (const auto& n : names) EXPECT_EQ(m::preset(n).name, n);
  for (const auto& t : dmgn::task_names()) EXPECT_NO_THROW(m::task_spec(t)) << t;
  for (const auto& n : names)
    for (const auto& t : m::preset_entry(n).default_for) {
      EXPECT_TRUE(dmgn::is_task(t)) << n << " is the default of an unregistered task " << t;
      EXPECT_EQ(m::task_spec(t).name, n) << t << " has two defaults";
    }
  try {
    m::preset("sid");
    FAIL() << "expected ConfigError";
  } catch (const dmgn::ConfigError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("'sid'"), std::string::npos) << what;
    EXPECT_NE(what.find(fmt::format("{}, custom", fmt::join(names, ", "))), std::string::npos) << what;
  }
  const m::Spec real20 = m::preset("real20"), rain100 = m::preset("rain100");
  const m::Spec sots = m::preset("sots"), basicsr = m::preset("basicsr");
  const auto a = test_image(16, 16, 0.0, 3);
  try {
    m::psnr(a, test_image(16, 17, 0.0, 3), real20);
    FAIL() << "expected DataError";
  } catch (const dmgn::DataError& e) {
    EXPECT_NE(std::string(e.what()).find("'gt'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(m::ssim(a[0], a[0], sots), dmgn::DataError);                       // 2-D
  EXPECT_THROW(m::ssim(a.slice(0, 0, 1), a.slice(0, 0, 1), rain100), dmgn::DataError);  // not RGB
  EXPECT_THROW(m::ssim(a, (a * 255).to(torch::kUInt8), real20), dmgn::DataError);
  const auto small = test_image(10, 10, 0.0, 4);
  EXPECT_THROW(m::ssim(small, small, basicsr), dmgn::DataError);  // < 11x11
  EXPECT_NO_THROW(m::ssim(small, small, real20));                 // >= 7x7
  EXPECT_THROW(m::ssim(small.slice(1, 0, 6), small.slice(1, 0, 6), real20), dmgn::DataError);
  // Grey images are fine for the presets without a Y conversion.
  EXPECT_NEAR(m::ssim(a.slice(0, 0, 1), a.slice(0, 0, 1), sots), 1.0, 1e-12);
}

TEST(Macs, CountsNestsRestoresAndIsPerThread) {
  EXPECT_FALSE(m::counting());
  m::count_macs(5);  // ignored: nothing is counting
  {
    m::MacCounter outer;
    EXPECT_TRUE(m::counting());
    m::count_macs(10);
    {
      m::MacCounter inner;
      m::count_macs(7);
      EXPECT_EQ(inner.total(), 7u);
      // Another thread has its own state.
      bool other_counting = true;
      std::thread([&] {
        other_counting = m::counting();
        m::count_macs(1000);
      }).join();
      EXPECT_FALSE(other_counting);
      EXPECT_EQ(inner.total(), 7u);
    }
    EXPECT_TRUE(m::counting());
    m::count_macs(3);
    EXPECT_EQ(outer.total(), 20u);
    // Large counts do not overflow (a VGG pass at 1024^2 is ~8e11 MACs).
    m::count_macs(uint64_t{1} << 40);
    EXPECT_EQ(outer.total(), 20u + (uint64_t{1} << 40));
  }
  EXPECT_FALSE(m::counting());
}
