// Rain streak and haze synthesis (data/synth_rain.h, data/synth_haze.h): the physics, the
// presets, determinism, validation and the built-in dataset driving them.
#include <fmt/format.h>
#include <fmt/ranges.h>  // fmt::join (its home since fmt 11)
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <opencv2/imgproc.hpp>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/error.h"
#include "core/rng.h"
#include "data/builtin.h"
#include "data/builtins.h"
#include "data/image_io.h"
#include "data/synth_haze.h"
#include "data/synth_rain.h"
#include "test_util.h"

namespace fs = std::filesystem;
using namespace dmgn;
using namespace dmgn::data;

namespace {

constexpr double kPi = 3.14159265358979323846;

// A smooth random photo-like image (as in test_data.cpp).
cv::Mat random_photo(int rows, int cols, uint64_t seed, float brightness) {
  Rng rng(seed);
  cv::Mat small(6, 8, CV_32FC3);
  for (int y = 0; y < small.rows; ++y)
    for (int k = 0; k < small.cols * 3; ++k)
      small.ptr<float>(y)[k] = static_cast<float>(brightness * rng.uniform(0.3, 1.0));
  cv::Mat big;
  cv::resize(small, big, cv::Size(cols, rows), 0, 0, cv::INTER_LINEAR);
  for (int y = 0; y < rows; ++y)
    for (int k = 0; k < cols * 3; ++k)
      big.ptr<float>(y)[k] =
          std::clamp(big.ptr<float>(y)[k] + static_cast<float>(rng.uniform(-0.05, 0.05)), 0.f, 1.f);
  return big;
}

bool mats_equal(const cv::Mat& a, const cv::Mat& b) {
  return a.size() == b.size() && a.type() == b.type() && cv::norm(a, b, cv::NORM_INF) == 0.0;
}

double mean_all(const cv::Mat& m) {
  const cv::Scalar s = cv::mean(m);
  return m.channels() == 1 ? s[0] : (s[0] + s[1] + s[2]) / 3.0;
}

void expect_in_unit_range(const cv::Mat& m, const char* what) {
  double lo = 0, hi = 0;
  cv::minMaxLoc(m.reshape(1), &lo, &hi);
  EXPECT_GE(lo, 0.0) << what;
  EXPECT_LE(hi, 1.0) << what;
}

// Angle from vertical (degrees, positive = top leans right) of a streak image's dominant
// line direction, from its structure tensor: the mean gradient normal is (cos a, sin a).
double streak_angle(const cv::Mat& layer) {
  cv::Mat gx, gy;
  cv::Sobel(layer, gx, CV_64F, 1, 0, 3);
  cv::Sobel(layer, gy, CV_64F, 0, 1, 3);
  const double jxx = cv::sum(gx.mul(gx))[0], jyy = cv::sum(gy.mul(gy))[0];
  const double jxy = cv::sum(gx.mul(gy))[0];
  return 0.5 * std::atan2(2.0 * jxy, jxx - jyy) * 180.0 / kPi;
}

// |a - b| for orientations modulo 180 degrees.
double angle_diff(double a, double b) {
  double d = std::fmod(std::abs(a - b), 180.0);
  return std::min(d, 180.0 - d);
}

// The message of the ConfigError `f` throws ("" when it throws none).
template <class F>
std::string config_error(F f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

template <class F>
std::string data_error(F f) {
  try {
    f();
  } catch (const DataError& e) {
    return e.what();
  }
  return "";
}

TEST(BuiltinData, PhotoFoldersAndAFixedNamedTestSplitIndependentOfTheSeed) {
  data::register_builtins();
  const fs::path dir = dmgn::testing::scratch("builtin_folders");
  fs::create_directories(dir / "pool");
  fs::create_directories(dir / "Test");
  for (int i = 0; i < 3; ++i) {
    write_image(dir / "pool" / fmt::format("a{}.png", i), random_photo(90, 120, 40 + i, 0.5f + 0.1f * i));
    write_image(dir / "Test" / fmt::format("t{}.png", i), random_photo(100, 100, 50 + i, 0.4f + 0.2f * i));
  }
  write_image(dir / "root.png", random_photo(90, 120, 60, 0.7f));
  const auto cfg = [&](int seed, const std::string& test) {
    return Config::defaults({fmt::format("data.builtin.root=\"{}\"", dir.string()), "data.builtin.photos=[\"root.png\"]",
                             fmt::format("data.builtin.folders=[\"{}\"]", (dir / "pool").string()),
                             fmt::format("data.builtin.test_folders=[\"{}\"]", test), "data.builtin.heldout_size=48",
                             "data.crop=40", "data.augment.short_side=[64, 96]", fmt::format("run.seed={}", seed)});
  };
  const auto train = BuiltinDataset::from_config(cfg(1, (dir / "Test").string()), Split::train);
  EXPECT_EQ(train->photo_names(), (std::vector<std::string>{"root.png", "pool/a0.png", "pool/a1.png", "pool/a2.png"}));
  const auto h1 = BuiltinDataset::from_config(cfg(1, (dir / "Test").string()), Split::heldout);
  const auto h2 = BuiltinDataset::from_config(cfg(2, (dir / "Test").string()), Split::heldout);
  EXPECT_EQ(h1->photo_names(), (std::vector<std::string>{"Test/t0.png", "Test/t1.png", "Test/t2.png"}));
  ASSERT_EQ(h1->size(), 3u);  // one sample per test photo
  for (size_t i = 0; i < h1->size(); ++i) {
    const Sample a = h1->get(i, 0), b = h2->get(i, 7);
    EXPECT_TRUE(torch::equal(a.input(), b.input())) << "the test inputs do not depend on run.seed: " << i;
    EXPECT_EQ(a.id, b.id);
    EXPECT_NE(a.id.find(h1->photo_names()[i] + "+"), std::string::npos) << a.id;  // photo i is T
  }
  // A missing folder is named with its key.
  EXPECT_NE(dmgn::testing::error_of<dmgn::IoError>(
                [&] { BuiltinDataset::from_config(cfg(1, (dir / "nope").string()), Split::heldout); })
                .find("data.builtin.test_folders: folder '" + (dir / "nope").string() + "' does not exist"),
            std::string::npos);
}

}  // namespace

TEST(SynthRain, PhysicsOrientationAndPresets) {
  data::register_builtins();
  const cv::Mat b = random_photo(80, 96, 1, 1.0f);

  // No seeds (or dark seeds) and no veil: the clean image, bit for bit.
  StreakLayerParams none;
  none.density = 0.0;
  none.length = 30;
  none.seed = 5;
  SynthOutput out = synthesize_rain(b, RainParams{{none}, 0.0});
  EXPECT_TRUE(mats_equal(out.input, b));
  EXPECT_EQ(cv::countNonZero(out.noise.reshape(1)), 0);
  StreakLayerParams dark = none;
  dark.density = 0.05;
  dark.intensity = 0.0;
  EXPECT_TRUE(mats_equal(synthesize_rain(b, RainParams{{dark}, 0.0}).input, b));

  // The streak kernel: max 1, point-symmetric, as long as asked along its direction.
  const StreakKernel k = streak_kernel(20.0, 30.0, 0.0);
  float kmax = 0;
  double extent = 0;
  for (const auto& tap : k.taps) {
    kmax = std::max(kmax, tap.value);
    const double along = tap.dx * std::sin(30.0 * kPi / 180) - tap.dy * std::cos(30.0 * kPi / 180);
    extent = std::max(extent, std::abs(along));
    const bool mirrored = std::any_of(k.taps.begin(), k.taps.end(), [&](const auto& o) {
      return o.dy == -tap.dy && o.dx == -tap.dx && std::abs(o.value - tap.value) < 1e-6f;
    });
    EXPECT_TRUE(mirrored) << tap.dy << "," << tap.dx;
  }
  EXPECT_FLOAT_EQ(kmax, 1.0f);
  EXPECT_NEAR(extent, 10.0, 1.0);

  // Streak orientation follows the drawn angle (structure tensor, within 2 degrees).
  for (double angle : {-35.0, 0.0, 20.0, 60.0}) {
    StreakLayerParams p;
    p.angle = angle;
    p.length = 30;
    p.width = 1.0;
    p.density = 0.004;
    p.intensity = 0.8;
    p.seed = 9;
    const cv::Mat layer = render_streaks(128, 128, p);
    EXPECT_GT(cv::countNonZero(layer), 0);
    EXPECT_LT(angle_diff(streak_angle(layer), angle), 2.0) << angle;
  }

  // Every preset draw: I in [0, 1], N in [0, 1], I = B + N, B untouched; heavy is denser and
  // brighter than light.
  const SynthPtr light = synths().make("rain_light", Config::defaults());
  const SynthPtr heavy = synths().make("rain_heavy", Config::defaults());
  EXPECT_EQ(light->task(), "rain");
  EXPECT_FALSE(heavy->needs_layer());
  double light_mean = 0, heavy_mean = 0, light_cover = 0, heavy_cover = 0;
  for (uint64_t seed = 0; seed < 4; ++seed) {
    for (const SynthPtr& s : {light, heavy}) {
      Rng rng(seed);
      out = s->synthesize({b, {}, {}}, rng);
      ASSERT_EQ(out.input.size(), b.size());
      ASSERT_EQ(out.input.type(), CV_32FC3);
      expect_in_unit_range(out.input, "I");
      expect_in_unit_range(out.noise, "N");
      EXPECT_TRUE(mats_equal(out.background, b));
      EXPECT_LE(cv::norm(b + out.noise, out.input, cv::NORM_INF), 2e-7);
      const cv::Mat streak_px = out.noise.reshape(1) > 0.05;
      const double cover = cv::countNonZero(streak_px) / static_cast<double>(b.total() * 3);
      (s == light ? light_mean : heavy_mean) += mean_all(out.noise) / 4;
      (s == light ? light_cover : heavy_cover) += cover / 4;
    }
  }
  EXPECT_GT(light_mean, 0.0);
  EXPECT_GT(heavy_mean, 4.0 * light_mean) << light_mean << " " << heavy_mean;
  EXPECT_GT(heavy_cover, 3.0 * light_cover) << light_cover << " " << heavy_cover;

  // Light draws one layer and no veil; heavy several layers in their own directions.
  Rng r1(3), r2(3);
  const RainParams pl = draw_rain_params(RainRanges::light(), r1);
  const RainParams ph = draw_rain_params(RainRanges::heavy(), r2);
  EXPECT_EQ(pl.layers.size(), 1u);
  EXPECT_EQ(pl.veil, 0.0);
  EXPECT_GE(ph.layers.size(), 3u);
  EXPECT_NE(ph.layers[0].angle, ph.layers[1].angle);
  for (const auto& l : ph.layers) EXPECT_LE(std::abs(l.angle - ph.layers[0].angle), 20.0);
  EXPECT_NE(ph.layers[0].seed, ph.layers[1].seed);

  // A veil lifts everything towards white and keeps N >= 0.
  const cv::Mat veiled = synthesize_rain(b, RainParams{{none}, 0.2}).input;
  const cv::Mat lifted = 0.8 * b + cv::Scalar::all(0.2);
  EXPECT_LE(cv::norm(veiled, lifted, cv::NORM_INF), 1e-6);

  // "rain" with the schema defaults is rain_heavy.
  const SynthPtr cfg_rain = synths().make("rain", Config::defaults({"data.builtin.synth=rain"}));
  Rng a(11), c(11);
  EXPECT_TRUE(mats_equal(cfg_rain->synthesize({b, {}, {}}, a).input,
                         heavy->synthesize({b, {}, {}}, c).input));
}

TEST(SynthRain, DeterministicAndValidated) {
  data::register_builtins();
  const SynthPtr rain = synths().make("rain_heavy", Config::defaults());
  const cv::Mat b = random_photo(33, 47, 2, 0.8f);  // odd sizes work
  Rng r1(7), r2(7), r3(8);
  const SynthOutput o1 = rain->synthesize({b, {}, {}}, r1);
  const SynthOutput o2 = rain->synthesize({b, {}, {}}, r2);
  const SynthOutput o3 = rain->synthesize({b, {}, {}}, r3);
  EXPECT_TRUE(mats_equal(o1.input, o2.input));
  EXPECT_TRUE(mats_equal(o1.noise, o2.noise));
  EXPECT_FALSE(mats_equal(o1.input, o3.input));
  // Tiny images and a single pixel work too.
  Rng r4(1);
  EXPECT_EQ(
      rain->synthesize({cv::Mat(1, 1, CV_32FC3, cv::Scalar::all(0.5)), {}, {}}, r4).input.size(),
      cv::Size(1, 1));

  // Bad input: a DataError naming the problem.
  const cv::Mat u8(16, 16, CV_8UC3, cv::Scalar::all(3));
  EXPECT_NE(data_error([&] {
              rain->synthesize({u8, {}, {}}, r1);
            }).find("rain"),
            std::string::npos);
  StreakLayerParams bad;
  bad.density = 1.5;
  EXPECT_NE(data_error([&] {
              synthesize_rain(b, RainParams{{bad}, 0.0});
            }).find("density"),
            std::string::npos);
  EXPECT_NE(data_error([&] {
              synthesize_rain(b, RainParams{{}, 1.0});
            }).find("veil"),
            std::string::npos);

  // Bad [synth.rain] ranges: a ConfigError naming the key.
  const auto make = [](const std::string& set) {
    return [set] { synths().make("rain", Config::defaults({"data.builtin.synth=rain", set})); };
  };
  EXPECT_NE(config_error(make("synth.rain.angle=[30, 10]")).find("synth.rain.angle"),
            std::string::npos);
  EXPECT_NE(config_error(make("synth.rain.density=[0.1, 1.5]")).find("synth.rain.density"),
            std::string::npos);
  EXPECT_NE(config_error(make("synth.rain.layers=[0, 2]")).find("synth.rain.layers"),
            std::string::npos);
  EXPECT_NE(config_error(make("synth.rain.length=[10]")).find("synth.rain.length"),
            std::string::npos);
  EXPECT_NE(config_error(make("synth.rain.veil=[0.0, 1.0]")).find("synth.rain.veil"),
            std::string::npos);
  EXPECT_THROW(Config::defaults({"data.builtin.synth=rain", "synth.rain.angles=[1, 2]"}), ConfigError);  // unknown
  // [synth.rain] belongs to the "rain" synthesis: a config that does not select it refuses it.
  EXPECT_NE(config_error([] { Config::defaults({"synth.rain.layers=[1, 1]"}); })
                .find("belongs to synth 'rain' (selected by data.builtin.synth"),
            std::string::npos);
  // Good overrides are honoured: one vertical layer.
  const SynthPtr vertical =
      synths().make("rain", Config::defaults({"data.builtin.synth=rain", "synth.rain.layers=[1, 1]", "synth.rain.angle=[0, 0]",
                                              "synth.rain.angle_spread=0", "synth.rain.veil=[0, 0]",
                                              "synth.rain.width=[1, 1]"}));
  Rng r5(4);
  const cv::Mat flat(96, 96, CV_32FC3, cv::Scalar::all(0.2));
  const SynthOutput v = vertical->synthesize({flat, {}, {}}, r5);
  std::vector<cv::Mat> ch;
  cv::split(v.noise, ch);
  EXPECT_LT(angle_diff(streak_angle(ch[0]), 0.0), 2.0);
}

TEST(SynthHaze, ScatteringModel) {
  data::register_builtins();
  const cv::Mat j = random_photo(40, 56, 3, 1.0f);
  cv::Mat depth(40, 56, CV_32FC1);
  for (int y = 0; y < depth.rows; ++y)
    for (int x = 0; x < depth.cols; ++x) depth.at<float>(y, x) = 2.0f + 0.1f * x + 0.05f * y;

  // beta = 0: t = 1, the clean image exactly and no veil.
  const HazeParams clear{0.0, cv::Vec3d(0.9, 0.8, 0.85)};
  SynthOutput out = synthesize_haze(j, depth, clear);
  EXPECT_TRUE(mats_equal(out.input, j));
  EXPECT_EQ(cv::countNonZero(out.noise.reshape(1)), 0);

  // Through the registry with a given depth: t = exp(-beta d / max d) pixel-wise, I = J t + N,
  // N = A (1 - t); the draw replayed from the same seed.
  const SynthPtr haze = synths().make("haze", Config::defaults({"data.builtin.synth=haze"}));
  EXPECT_EQ(haze->task(), "haze");
  double dmax = 0;
  cv::minMaxLoc(depth, nullptr, &dmax);
  for (uint64_t seed = 0; seed < 3; ++seed) {
    Rng rng(seed), replay(seed);
    out = haze->synthesize({j, {}, depth}, rng);
    const HazeParams p = draw_haze_params(HazeOptions{}, replay);
    EXPECT_GE(p.beta, 0.6);
    EXPECT_LE(p.beta, 1.8);
    for (int c = 0; c < 3; ++c) {
      EXPECT_GE(p.airlight[c], 0.7 * 0.95 - 1e-12);
      EXPECT_LE(p.airlight[c], 1.0);
    }
    expect_in_unit_range(out.input, "I");
    expect_in_unit_range(out.noise, "N");
    EXPECT_TRUE(mats_equal(out.background, j));
    const cv::Mat t = transmission(depth / dmax, p.beta);
    double worst_t = 0, worst_i = 0, worst_n = 0;
    for (int y = 0; y < j.rows; ++y)
      for (int x = 0; x < j.cols; ++x) {
        const double want_t = std::exp(-p.beta * depth.at<float>(y, x) / dmax);
        worst_t = std::max(worst_t, std::abs(t.at<float>(y, x) - want_t));
        for (int c = 0; c < 3; ++c) {
          const double jc = j.at<cv::Vec3f>(y, x)[c];
          const double n = out.noise.at<cv::Vec3f>(y, x)[c];
          worst_n = std::max(worst_n, std::abs(n - p.airlight[c] * (1 - want_t)));
          worst_i =
              std::max(worst_i, std::abs(out.input.at<cv::Vec3f>(y, x)[c] - (jc * want_t + n)));
        }
      }
    EXPECT_LT(worst_t, 1e-6);
    EXPECT_LT(worst_n, 1e-6);
    EXPECT_LT(worst_i, 1e-6);
  }

  // Thicker haze: lower contrast, closer to the airlight; far pixels hazier than near ones.
  const cv::Vec3d a(0.8, 0.8, 0.8);
  double last_contrast = 1e9, last_gap = 1e9;
  for (double beta : {0.3, 0.8, 1.5, 3.0}) {
    out = synthesize_haze(j, depth / dmax, HazeParams{beta, a});
    cv::Scalar mean, stddev;
    cv::meanStdDev(out.input.reshape(1), mean, stddev);
    const double gap = cv::norm(out.input - cv::Scalar::all(0.8), cv::NORM_L1);
    EXPECT_LT(stddev[0], last_contrast) << beta;
    EXPECT_LT(gap, last_gap) << beta;
    last_contrast = stddev[0];
    last_gap = gap;
    EXPECT_GT(mean_all(out.noise.row(39).colRange(50, 56)),
              mean_all(out.noise.row(0).colRange(0, 6)));
  }
}

TEST(SynthHaze, DepthSourcesAndValidation) {
  data::register_builtins();
  const cv::Mat j = random_photo(64, 80, 4, 0.9f);

  // The estimate: smooth, in [0.2, 1], farther at the top, farther over a bright grey (sky-like)
  // region than over a dark one on the same rows, deterministic.
  cv::Mat scene(96, 128, CV_32FC3, cv::Scalar(0.1f, 0.3f, 0.1f));
  scene(cv::Rect(64, 0, 64, 96)).setTo(cv::Scalar::all(0.9));
  const cv::Mat d = estimate_depth(scene);
  ASSERT_EQ(d.type(), CV_32FC1);
  ASSERT_EQ(d.size(), scene.size());
  double lo = 0, hi = 0;
  cv::minMaxLoc(d, &lo, &hi);
  EXPECT_GE(lo, 0.2 - 1e-6);
  EXPECT_LE(hi, 1.0 + 1e-6);
  EXPECT_GT(d.at<float>(5, 20), d.at<float>(90, 20));          // top farther than bottom
  EXPECT_GT(d.at<float>(48, 110), d.at<float>(48, 20) + 0.1);  // bright grey farther
  cv::Mat dx, dy;
  cv::Sobel(d, dx, CV_32F, 1, 0, 1);
  cv::Sobel(d, dy, CV_32F, 0, 1, 1);
  EXPECT_LT(cv::norm(dx, cv::NORM_INF), 0.05);  // per-pixel steps: no hard edges
  EXPECT_LT(cv::norm(dy, cv::NORM_INF), 0.05);
  EXPECT_TRUE(mats_equal(estimate_depth(scene), d));
  EXPECT_EQ(estimate_depth(cv::Mat(1, 1, CV_32FC3, cv::Scalar::all(0.5))).size(), cv::Size(1, 1));

  // Sources: no depth -> the estimate; "estimate" ignores a given depth; "uniform" is d = 1;
  // depth_scale "none" takes the depth as given.
  const cv::Mat given(64, 80, CV_32FC1, cv::Scalar(4.0f));
  HazeOptions o;
  EXPECT_TRUE(mats_equal(haze_depth({j, {}, {}}, o), estimate_depth(j)));
  EXPECT_TRUE(
      mats_equal(haze_depth({j, {}, given}, o), cv::Mat(64, 80, CV_32FC1, cv::Scalar(1.0f))));
  o.depth_scale = "none";
  EXPECT_TRUE(mats_equal(haze_depth({j, {}, given}, o), given));
  o.depth = "estimate";
  EXPECT_TRUE(mats_equal(haze_depth({j, {}, given}, o), estimate_depth(j)));
  o.depth = "uniform";
  EXPECT_TRUE(mats_equal(haze_depth({j, {}, {}}, o), cv::Mat(64, 80, CV_32FC1, cv::Scalar(1.0f))));
  const SynthPtr uniform = synths().make("haze", Config::defaults({"data.builtin.synth=haze", "synth.haze.depth=uniform"}));
  Rng ru(2);
  const SynthOutput flat = uniform->synthesize({j, {}, {}}, ru);
  std::vector<cv::Mat> ch;
  cv::split(flat.noise, ch);
  double nlo = 0, nhi = 0;
  cv::minMaxLoc(ch[1], &nlo, &nhi);
  EXPECT_EQ(nlo, nhi);  // constant transmission, constant veil

  // Determinism.
  const SynthPtr haze = synths().make("haze", Config::defaults({"data.builtin.synth=haze"}));
  Rng r1(5), r2(5), r3(6);
  const SynthOutput h1 = haze->synthesize({j, {}, {}}, r1);
  EXPECT_TRUE(mats_equal(h1.input, haze->synthesize({j, {}, {}}, r2).input));
  EXPECT_FALSE(mats_equal(h1.input, haze->synthesize({j, {}, {}}, r3).input));
  EXPECT_GT(mean_all(h1.noise), 0.05);  // the estimate gives real haze

  // Bad inputs: DataError naming the problem.
  const auto err = [&](const cv::Mat& bg, const cv::Mat& depth) {
    return data_error([&] {
      Rng r(0);
      haze->synthesize({bg, {}, depth}, r);
    });
  };
  EXPECT_NE(err(j, cv::Mat(64, 80, CV_8UC1, cv::Scalar(3))).find("CV_32FC1"), std::string::npos);
  EXPECT_NE(err(j, cv::Mat(32, 80, CV_32FC1, cv::Scalar(3))).find("80x32"), std::string::npos);
  cv::Mat negative = given.clone();
  negative.at<float>(3, 4) = -1.0f;
  EXPECT_NE(err(j, negative).find("(x 4, y 3)"), std::string::npos);
  negative.at<float>(3, 4) = NAN;
  EXPECT_NE(err(j, negative).find("finite"), std::string::npos);
  EXPECT_NE(err(j, cv::Mat(64, 80, CV_32FC1, cv::Scalar(0.0f))).find("all zero"),
            std::string::npos);
  EXPECT_NE(err(cv::Mat(64, 80, CV_32FC1, cv::Scalar(0.5f)), {}).find("background"),
            std::string::npos);
  EXPECT_THROW(synthesize_haze(j, given, HazeParams{-1.0, cv::Vec3d(1, 1, 1)}), DataError);
  EXPECT_THROW(synthesize_haze(j, given, HazeParams{1.0, cv::Vec3d(1.2, 1, 1)}), DataError);

  // Bad [synth.haze] values: a ConfigError naming the key.
  const auto make = [](const std::string& set) {
    return [set] { synths().make("haze", Config::defaults({"data.builtin.synth=haze", set})); };
  };
  EXPECT_NE(config_error(make("synth.haze.beta=[1.8, 0.6]")).find("synth.haze.beta"),
            std::string::npos);
  EXPECT_NE(config_error(make("synth.haze.airlight=[0.7, 1.2]")).find("synth.haze.airlight"),
            std::string::npos);
  EXPECT_NE(config_error(make("synth.haze.tint=-0.1")).find("synth.haze.tint"), std::string::npos);
  EXPECT_NE(config_error(make("synth.haze.depth=lidar")).find("synth.haze.depth"),
            std::string::npos);
  EXPECT_NE(config_error(make("synth.haze.depth_scale=log")).find("synth.haze.depth_scale"),
            std::string::npos);
}

TEST(SynthBuiltin, RainAndHazeSamples) {
  data::register_builtins();
  const fs::path dir = dmgn::testing::scratch("synth_builtin");
  std::vector<std::string> quoted;
  for (int i = 0; i < 4; ++i) {
    const std::string name = fmt::format("p{}.png", i);
    write_image(dir / name, random_photo(120 + 10 * i, 160, 20 + i, 0.6f + 0.1f * i));
    quoted.push_back(fmt::format("\"{}\"", name));
  }
  for (const std::string synth : {"rain_heavy", "haze"}) {
    const Config cfg = Config::defaults(
        {fmt::format("data.builtin.root=\"{}\"", dir.string()),
         fmt::format("data.builtin.photos=[{}]", fmt::join(quoted, ",")),
         "data.builtin.heldout_photos=[]", "data.builtin.heldout=1", "data.builtin.train_pairs=4",
         "data.builtin.heldout_pairs=2", "data.builtin.heldout_size=48", "data.crop=40",
         "data.augment.short_side=[64, 96]", "run.seed=3", "data.builtin.synth=" + synth});
    const auto train = BuiltinDataset::from_config(cfg, Split::train);
    const auto again = BuiltinDataset::from_config(cfg, Split::train);
    const auto held = BuiltinDataset::from_config(cfg, Split::heldout);
    EXPECT_EQ(train->provenance().at("synth"), synth);
    for (size_t i = 0; i < train->size(); ++i) {
      const Sample s = train->get(i, 1);
      EXPECT_EQ(s.input().sizes(), (std::vector<int64_t>{3, 40, 40})) << synth;
      EXPECT_EQ(s.noise().sizes(), (std::vector<int64_t>{3, 40, 40})) << synth;
      EXPECT_EQ(s.background().sizes(), (std::vector<int64_t>{3, 40, 40})) << synth;
      EXPECT_GE(s.input().min().item<float>(), 0.f);
      EXPECT_LE(s.input().max().item<float>(), 1.f);
      EXPECT_GE(s.noise().min().item<float>(), 0.f);
      EXPECT_FALSE(torch::equal(s.input(), s.background())) << synth << " " << i;
      if (synth == "rain_heavy")
        EXPECT_LE((s.background() + s.noise() - s.input()).abs().max().item<float>(), 2e-7f);
      // Named fields: each synthesis fills what it knows, and the task it made the sample for.
      EXPECT_EQ(s.task, synth == "haze" ? "haze" : "rain");
      if (synth == "haze") {
        const auto t = s.at("transmission"), a = s.at("airlight"), d = s.at("depth");
        EXPECT_EQ(t.sizes(), (std::vector<int64_t>{1, 40, 40}));
        EXPECT_EQ(d.sizes(), (std::vector<int64_t>{1, 40, 40}));
        EXPECT_EQ(a.sizes(), (std::vector<int64_t>{3, 1, 1}));
        // I = min(1, B t + A (1 - t)) from the sample's own fields, and N = A (1 - t).
        EXPECT_LE((s.noise() - a * (1 - t)).abs().max().item<float>(), 1e-6f);
        EXPECT_LE(((s.background() * t + a * (1 - t)).clamp_max(1) - s.input()).abs().max().item<float>(), 1e-5f);
      } else {
        EXPECT_FALSE(s.has("transmission") || s.has("airlight") || s.has("depth") || s.has("reflection"));
      }
      const Sample t = again->get(i, 1);
      EXPECT_TRUE(torch::equal(s.input(), t.input()));
      EXPECT_TRUE(torch::equal(s.noise(), t.noise()));
      EXPECT_EQ(s.id, t.id);
    }
    EXPECT_FALSE(torch::equal(train->get(0, 1).input(), train->get(0, 2).input()));
    const Sample h = held->get(1, 0);
    EXPECT_EQ(h.input().sizes(), (std::vector<int64_t>{3, 48, 48}));
    EXPECT_TRUE(torch::equal(h.input(), held->get(1, 5).input()));
  }
}
