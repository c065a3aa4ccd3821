// metrics/spec.h: what each step of a Spec does (border crop, quantisation, Y vs RGB), the
// config keys that select and describe a convention, and `dmgn score`.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <torch/torch.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/error.h"
#include "data/image_io.h"
#include "metrics/psnr_ssim.h"
#include "test_util.h"

namespace m = dmgn::metrics;
namespace fs = std::filesystem;

namespace {

// A smooth 3xHxW image in [0,1] plus seeded noise (double).
torch::Tensor photo_like(int64_t h, int64_t w, double noise, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto y = torch::linspace(0, 1, h, torch::kFloat64).view({1, h, 1});
  auto x = torch::linspace(0, 1, w, torch::kFloat64).view({1, 1, w});
  auto c = torch::tensor({0.0, 1.0, 2.0}, torch::kFloat64).view({3, 1, 1});
  auto img = 0.5 + 0.35 * torch::sin(7.0 * x + 3.0 * y + c) * torch::cos(5.0 * y - c);
  return (img + noise * torch::randn({3, h, w}, gen, torch::kFloat64)).clamp(0, 1);
}

m::Spec from(const std::vector<std::string>& overrides) {
  return m::spec_from_config(dmgn::Config::defaults(overrides));
}

// The ConfigError message of spec_from_config with these overrides ("" if none is thrown).
std::string config_error(const std::vector<std::string>& overrides) {
  try {
    from(overrides);
  } catch (const dmgn::ConfigError& e) {
    return e.what();
  }
  return "";
}

struct CliRun {
  int code = -1;
  std::string out;
};

CliRun dmgn_cli(const std::string& args) {
  const std::string cmd = std::string(DMGN_BINARY) + " " + args + " 2>&1";
  CliRun r;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf{};
  while (size_t n = std::fread(buf.data(), 1, buf.size(), p)) r.out.append(buf.data(), n);
  const int status = ::pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// "name  PSNR  SSIM" line of `dmgn score` output for `name`.
std::pair<double, double> score_line(const std::string& out, const std::string& name) {
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream words(line);
    std::string first;
    double p = 0, s = 0;
    if (words >> first >> p >> s && first == name) return {p, s};
  }
  ADD_FAILURE() << "no line for '" << name << "' in:\n" << out;
  return {0, 0};
}

}  // namespace

TEST(MetricsSpec, CropQuantiseAndColour) {
  const auto gt = photo_like(48, 52, 0.03, 1);
  const auto out = photo_like(48, 52, 0.03, 2);
  // Border crop: the same as scoring the cropped tensors, and a border-only change vanishes.
  for (const char* name : {"real20", "rain100", "sots", "skimage", "basicsr_y"}) {
    m::Spec spec = m::preset(name), cropped = spec;
    cropped.crop_border = 5;
    const auto inner = [](const torch::Tensor& t) { return t.slice(1, 5, -5).slice(2, 5, -5); };
    const m::Quality a = m::assess(out, gt, cropped), b = m::assess(inner(out), inner(gt), spec);
    EXPECT_EQ(a.psnr, b.psnr) << name;
    EXPECT_EQ(a.ssim, b.ssim) << name;
    auto framed = gt.clone();
    framed.slice(1, 0, 3).fill_(0.0);
    framed.slice(2, -3).fill_(1.0);
    cropped.crop_border = 3;
    EXPECT_EQ(m::psnr(framed, gt, cropped), m::kPsnrCap) << name;
    EXPECT_NEAR(m::ssim(framed, gt, cropped), 1.0, 1e-12) << name;
    cropped.crop_border = 2;
    EXPECT_LT(m::psnr(framed, gt, cropped), 40.0) << name;
  }
  m::Spec big_crop = m::preset("skimage");
  big_crop.crop_border = 19;  // 48 - 38 = 10 < 11 taps
  EXPECT_THROW(m::ssim(out, gt, big_crop), dmgn::DataError);

  // Quantisation: sub-quantum differences vanish on the uint8 grid, and the float presets see
  // them. 0.4/255 everywhere: 20 log10(255 / 0.4) dB unquantised.
  const auto grid = torch::round(gt * 255) / 255, nudged = grid + 0.4 / 255;
  EXPECT_EQ(m::psnr(nudged, grid, m::preset("skimage")), m::kPsnrCap);
  EXPECT_NEAR(m::ssim(nudged, grid, m::preset("skimage")), 1.0, 1e-12);
  EXPECT_NEAR(m::psnr(nudged, grid, m::preset("basicsr")), 20 * std::log10(255 / 0.4), 1e-6);
  // On the grid, quantising changes nothing; range 1 gives the same numbers as range 255.
  m::Spec q = m::preset("skimage"), f = m::preset("basicsr"), q1 = q;
  q1.data_range = 1.0;
  const auto grid_out = torch::round(out * 255) / 255;
  EXPECT_NEAR(m::psnr(grid_out, grid, q), m::psnr(grid_out, grid, f), 1e-9);
  EXPECT_NEAR(m::ssim(grid_out, grid, q), m::ssim(grid_out, grid, f), 1e-9);
  EXPECT_NEAR(m::psnr(grid_out, grid, q1), m::psnr(grid_out, grid, q), 1e-9);
  EXPECT_NEAR(m::ssim(grid_out, grid, q1), m::ssim(grid_out, grid, q), 1e-9);
  // Off the grid they differ, and rounding is to the nearest level.
  EXPECT_GT(std::abs(m::psnr(out, gt, q) - m::psnr(out, gt, f)), 1e-4);
  EXPECT_EQ(m::psnr(grid + 0.49 / 255, grid - 0.49 / 255, q), m::kPsnrCap);

  // Y (BT.601, MATLAB rgb2ycbcr) vs RGB: pure primaries against black give the coefficients.
  const auto black = torch::zeros({3, 16, 16}, torch::kFloat64);
  const double coef[3] = {65.481, 128.553, 24.966};
  m::Spec y = m::preset("basicsr_y"), rgb = m::preset("skimage");
  for (int c = 0; c < 3; ++c) {
    auto primary = black.clone();
    primary[c].fill_(1.0);
    EXPECT_NEAR(m::psnr(primary, black, y), 20 * std::log10(255 / coef[c]), 1e-9) << c;
    EXPECT_NEAR(m::psnr(primary, black, rgb), 10 * std::log10(3.0), 1e-9) << c;  // one channel of 3
  }
  // Grey images: Y = 16 + 219 v, so PSNR on Y is 20 log10(255/219) higher than on RGB.
  const auto grey_gt = gt[0].expand({3, 48, 52}).contiguous(), grey_out = out[0].expand({3, 48, 52}).contiguous();
  m::Spec yf = m::preset("rain100");
  EXPECT_NEAR(m::psnr(grey_out, grey_gt, yf) - m::psnr(grey_out, grey_gt, f), 20 * std::log10(255 / 219.0), 1e-9);
  EXPECT_NE(m::ssim(out, gt, y), m::ssim(out, gt, rgb));
  EXPECT_THROW(m::psnr(gt.slice(0, 0, 1), gt.slice(0, 0, 1), y), dmgn::DataError);  // Y needs RGB
}

TEST(MetricsSpec, ConfigKeysSelectValidateAndDescribe) {
  // describe(): the whole convention on one line.
  EXPECT_EQ(m::preset("skimage").describe(),
            "skimage: RGB u8 range=255 crop=0 psnr=joint ssim=gaussian(11,1.5) K=(0.01,0.03) "
            "cov=population boundary=valid");
  EXPECT_EQ(m::preset("real20").describe(),
            "real20: RGB float range=255 crop=0 psnr=channel_mean ssim=uniform(7) K=(0.01,0.03) "
            "cov=sample boundary=valid");
  EXPECT_EQ(m::preset("sots").describe(),
            "sots: RGB float range=1 crop=0 psnr=joint ssim=gaussian(11,1.5) K=(0.01,0.03) "
            "cov=population boundary=zero");
  EXPECT_EQ(m::preset("rain100").describe().substr(0, 25), "rain100: Y(BT.601) float ");
  for (const auto& name : m::preset_names()) EXPECT_EQ(m::preset(name).describe().find(name + ": "), 0u);

  // eval.metric: auto follows the task; a name picks the preset; unknown names are listed.
  EXPECT_EQ(from({}).name, "real20");
  EXPECT_EQ(from({"task.name=rain"}).name, "rain100");
  EXPECT_EQ(from({"task.name=haze"}).name, "sots");
  EXPECT_EQ(from({"task.name=haze", "eval.metric=basicsr_y"}).name, "basicsr_y");
  std::string e = config_error({"eval.metric=psnr_y"});
  EXPECT_NE(e.find("'eval.metric'"), std::string::npos) << e;
  EXPECT_NE(e.find("\"psnr_y\""), std::string::npos) << e;
  // The known names are the registry's (a system's presets included), then auto and custom.
  for (const auto& name : m::preset_names()) EXPECT_NE(e.find(name), std::string::npos) << name << ": " << e;
  EXPECT_NE(e.find("or auto, custom"), std::string::npos) << e;
  EXPECT_NE(config_error({"task.name=deblur"}).find("no task of that name is registered"), std::string::npos);

  // custom: its defaults are the skimage convention; every key is read.
  const m::Spec c0 = from({"eval.metric=custom"});
  EXPECT_EQ(c0.name, "custom");
  const std::string d0 = c0.describe(), ds = m::preset("skimage").describe();
  EXPECT_EQ(d0.substr(d0.find(':')), ds.substr(ds.find(':')));
  const m::Spec c = from({"eval.metric=custom", "eval.custom.color=y", "eval.custom.quantise=false",
                          "eval.custom.data_range=1", "eval.custom.crop_border=2",
                          "eval.custom.psnr=channel_mean", "eval.custom.window=uniform",
                          "eval.custom.window_size=9", "eval.custom.k1=0.02", "eval.custom.k2=0.04",
                          "eval.custom.sample_covariance=true", "eval.custom.boundary=zero"});
  EXPECT_EQ(c.describe(),
            "custom: Y(BT.601) float range=1 crop=2 psnr=channel_mean ssim=uniform(9) K=(0.02,0.04) "
            "cov=sample boundary=zero");
  EXPECT_EQ(from({"eval.metric=custom", "eval.custom.sigma=2.5"}).sigma, 2.5);
  // Bad values name the key.
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"color", "yuv"},        {"psnr", "mean"},   {"window", "box"}, {"boundary", "reflect"},
      {"window_size", "10"},   {"window_size", "1"}, {"sigma", "0"},  {"k1", "0"},
      {"k2", "-0.03"},         {"data_range", "2"}, {"crop_border", "-1"}};
  for (const auto& [key, value] : bad) {
    e = config_error({"eval.metric=custom", "eval.custom." + key + "=" + value});
    EXPECT_NE(e.find("'eval.custom." + key + "'"), std::string::npos) << key << "=" << value << ": " << e;
  }
  EXPECT_THROW(from({"eval.custom.quantise=\"yes\""}), dmgn::ConfigError);  // schema type check
  EXPECT_THROW(from({"eval.custom.windowsize=11"}), dmgn::ConfigError);      // unknown key

  // eval.crop_border overrides any preset's crop and says so in the name.
  const m::Spec y4 = from({"eval.metric=basicsr_y", "eval.crop_border=4"});
  EXPECT_EQ(y4.name, "basicsr_y+crop4");
  EXPECT_EQ(y4.crop_border, 4);
  EXPECT_NE(y4.describe().find("crop=4"), std::string::npos);
  EXPECT_EQ(from({"eval.crop_border=0"}).name, "real20");  // its own crop: no suffix
  EXPECT_EQ(from({"eval.metric=custom", "eval.custom.crop_border=3", "eval.crop_border=1"}).crop_border, 1);
  EXPECT_NE(config_error({"eval.crop_border=-2"}).find("'eval.crop_border'"), std::string::npos);

  // A hand-built Spec is validated where it is used, naming the field.
  m::Spec odd = m::preset("skimage");
  odd.window_size = 8;
  const auto img = photo_like(20, 20, 0.0, 3);
  try {
    m::ssim(img, img, odd);
    ADD_FAILURE() << "expected ConfigError";
  } catch (const dmgn::ConfigError& err) {
    EXPECT_NE(std::string(err.what()).find("'window_size'"), std::string::npos) << err.what();
  }
}

TEST(MetricsSpec, ScoreCommandPairsByStemAndNamesBadFiles) {
  const fs::path dir = dmgn::testing::scratch("metrics_score");
  const fs::path out = dir / "out", gt = dir / "gt";
  fs::create_directories(out);
  fs::create_directories(gt);
  auto save = [](const fs::path& p, const torch::Tensor& t) { dmgn::data::write_image(p, dmgn::data::to_mat(t)); };
  save(out / "a.png", photo_like(40, 44, 0.05, 1));
  save(gt / "a.png", photo_like(40, 44, 0.0, 1));
  save(out / "b.png", photo_like(33, 30, 0.08, 2));
  save(gt / "b.bmp", photo_like(33, 30, 0.0, 2));  // pairs by stem, whatever the extension
  std::ofstream(out / "notes.txt") << "not an image\n";

  const CliRun r = dmgn_cli("score " + out.string() + " " + gt.string() + " --metric skimage");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("metric " + m::preset("skimage").describe()), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("ignored (not an image): " + (out / "notes.txt").string()), std::string::npos) << r.out;
  const auto read = [](const fs::path& p) { return dmgn::data::to_tensor(dmgn::data::read_image(p)); };
  const m::Quality qa = m::assess(read(out / "a.png"), read(gt / "a.png"), m::preset("skimage"));
  const m::Quality qb = m::assess(read(out / "b.png"), read(gt / "b.bmp"), m::preset("skimage"));
  const auto [pa, sa] = score_line(r.out, "a");
  const auto [pb, sb] = score_line(r.out, "b");
  const auto [pm, sm] = score_line(r.out, "mean");
  EXPECT_NEAR(pa, qa.psnr, 1e-4);
  EXPECT_NEAR(sa, qa.ssim, 1e-6);
  EXPECT_NEAR(pb, qb.psnr, 1e-4);
  EXPECT_NEAR(sb, qb.ssim, 1e-6);
  EXPECT_NEAR(pm, (qa.psnr + qb.psnr) / 2, 1e-4);
  EXPECT_NEAR(sm, (qa.ssim + qb.ssim) / 2, 1e-6);

  // Two files, a custom convention from --set.
  const CliRun one = dmgn_cli("score " + (out / "a.png").string() + " " + (gt / "a.png").string() +
                           " --metric custom --set eval.custom.color=y --set eval.custom.crop_border=4");
  ASSERT_EQ(one.code, 0) << one.out;
  m::Spec y4 = m::preset("basicsr_y");
  y4.crop_border = 4;
  EXPECT_NEAR(score_line(one.out, "a").first, m::psnr(read(out / "a.png"), read(gt / "a.png"), y4), 1e-4);
  EXPECT_NE(one.out.find("custom: Y(BT.601) u8 range=255 crop=4"), std::string::npos) << one.out;

  // Errors: one line naming the file or key, exit 1.
  auto expect_error = [](const CliRun& e, const std::string& want) {
    EXPECT_EQ(e.code, 1) << e.out;
    EXPECT_EQ(std::count(e.out.begin(), e.out.end(), '\n'), 1) << e.out;
    EXPECT_NE(e.out.find(want), std::string::npos) << "want '" << want << "' in: " << e.out;
  };
  expect_error(dmgn_cli("score " + out.string() + " " + gt.string() + " --metric custom --set eval.custom.window_size=4"),
               "'eval.custom.window_size'");
  expect_error(dmgn_cli("score " + out.string() + " " + (gt / "a.png").string()), "give two images or two folders");
  save(gt / "c.png", photo_like(20, 20, 0.0, 3));
  expect_error(dmgn_cli("score " + out.string() + " " + gt.string()), (gt / "c.png").string());
  save(out / "c.png", photo_like(20, 21, 0.0, 3));
  expect_error(dmgn_cli("score " + out.string() + " " + gt.string()), "size mismatch: '" + (out / "c.png").string());
  fs::remove(gt / "c.png");
  expect_error(dmgn_cli("score " + out.string() + " " + gt.string()), (out / "c.png").string() + "' has no ground truth");
  expect_error(dmgn_cli("score " + (dir / "missing").string() + " " + gt.string()), "missing' does not exist");
  fs::remove_all(dir);
}
