// Rain streak synthesis (data/synth_rain.h): the physics, the presets, determinism and
// validation.
#include <fmt/format.h>
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

}  // namespace

TEST(SynthRain, PhysicsOrientationAndPresets) {
  register_builtins();
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
  const SynthPtr cfg_rain = synths().make("rain", Config::defaults());
  Rng a(11), c(11);
  EXPECT_TRUE(mats_equal(cfg_rain->synthesize({b, {}, {}}, a).input,
                         heavy->synthesize({b, {}, {}}, c).input));
}

TEST(SynthRain, DeterministicAndValidated) {
  register_builtins();
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
    return [set] { synths().make("rain", Config::defaults({set})); };
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
  EXPECT_THROW(Config::defaults({"synth.rain.angles=[1, 2]"}), ConfigError);  // unknown key
  // Good overrides are honoured: one vertical layer.
  const SynthPtr vertical =
      synths().make("rain", Config::defaults({"synth.rain.layers=[1, 1]", "synth.rain.angle=[0, 0]",
                                              "synth.rain.angle_spread=0", "synth.rain.veil=[0, 0]",
                                              "synth.rain.width=[1, 1]"}));
  Rng r5(4);
  const cv::Mat flat(96, 96, CV_32FC3, cv::Scalar::all(0.2));
  const SynthOutput v = vertical->synthesize({flat, {}, {}}, r5);
  std::vector<cv::Mat> ch;
  cv::split(v.noise, ch);
  EXPECT_LT(angle_diff(streak_angle(ch[0]), 0.0), 2.0);
}
