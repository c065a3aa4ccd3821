// MBN's syntheses (data/synth_jpeg.h, data/synth_mixed.h): JPEG artefacts against a direct
// OpenCV round trip, quality ordering, determinism, the 8-bit background, validation; the mixed
// degradations one factor at a time (JPEG, haze), their order, ImageMagick's one-sided motion
// blur kernel, the GIMP-style rain layer and the random factor combinations.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <set>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/error.h"
#include "core/rng.h"
#include "data/builtins.h"
#include "data/synth_jpeg.h"
#include "data/synth_mixed.h"
#include "data/synthesis.h"
#include "test_util.h"

using namespace dmgn;
using namespace dmgn::data;

namespace {

constexpr double kPi = 3.14159265358979323846;

// An 8-bit photo-like texture: smooth colour gradients, fine stripes and noise (JPEG has
// something to lose), made as read_image makes a PNG's pixels (8 bits, then / 255 in float).
cv::Mat textured(int rows, int cols, uint64_t seed) {
  Rng rng(seed);
  cv::Mat img(rows, cols, CV_8UC3);
  const double phase = rng.uniform(0, 2 * kPi);
  for (int y = 0; y < rows; ++y)
    for (int x = 0; x < cols; ++x)
      for (int c = 0; c < 3; ++c) {
        const double v = 0.45 + 0.25 * std::sin(0.9 * x + 0.4 * y + phase + c) + 0.15 * (y / double(rows)) +
                         0.1 * (rng.uniform() - 0.5);
        img.at<cv::Vec3b>(y, x)[c] = static_cast<uchar>(std::lround(std::clamp(v, 0.0, 1.0) * 255.0));
      }
  cv::Mat out;
  img.convertTo(out, CV_32F, 1.0 / 255.0);
  return out;
}

bool mats_equal(const cv::Mat& a, const cv::Mat& b) {
  return a.size() == b.size() && a.type() == b.type() && cv::norm(a, b, cv::NORM_INF) == 0.0;
}

double psnr(const cv::Mat& a, const cv::Mat& b) {
  cv::Mat d = a - b;
  const double mse = cv::mean(d.mul(d)).dot(cv::Scalar(1, 1, 1, 0)) / 3.0;
  return 10.0 * std::log10(1.0 / mse);
}

// The round trip written out independently of jpeg_roundtrip.
cv::Mat opencv_jpeg(const cv::Mat& rgb01, int q) {
  cv::Mat u8, bgr, rgb, out;
  rgb01.convertTo(u8, CV_8U, 255.0);
  cv::cvtColor(u8, bgr, cv::COLOR_RGB2BGR);
  std::vector<uchar> bytes;
  EXPECT_TRUE(cv::imencode(".jpg", bgr, bytes, {cv::IMWRITE_JPEG_QUALITY, q}));
  cv::cvtColor(cv::imdecode(bytes, cv::IMREAD_COLOR), rgb, cv::COLOR_BGR2RGB);
  rgb.convertTo(out, CV_32F, 1.0 / 255.0);
  return out;
}

bool on_8bit_grid(const cv::Mat& m) {
  const cv::Mat flat = m.reshape(1);
  for (int y = 0; y < flat.rows; ++y)
    for (int x = 0; x < flat.cols; ++x) {
      const double v = flat.at<float>(y, x) * 255.0;
      if (std::fabs(v - std::round(v)) > 1e-3) return false;
    }
  return true;
}

// The syntheses registered (so that data.builtin.synth's registry rule knows them) and a config
// selecting one, with overrides.
Config jpeg_cfg(std::vector<std::string> sets = {}) {
  data::register_builtins();
  sets.insert(sets.begin(), "data.builtin.synth=jpeg");
  return Config::defaults(sets);
}

Config mixed_cfg(std::vector<std::string> sets = {}) {
  data::register_builtins();
  sets.insert(sets.begin(), "data.builtin.synth=mixed");
  return Config::defaults(sets);
}

}  // namespace

// ---- jpeg -------------------------------------------------------------------------------

TEST(JpegSynth, EqualsADirectOpenCvRoundTripAtTheDrawnQuality) {
  const SynthPtr s = synths().make("jpeg", jpeg_cfg());
  EXPECT_EQ(s->task(), "jpeg");
  EXPECT_EQ(s->name(), "jpeg");
  const cv::Mat b = textured(40, 56, 1);
  for (uint64_t seed = 0; seed < 6; ++seed) {
    Rng rng(seed), replay(seed);
    const SynthOutput out = s->synthesize({b, {}, {}}, rng);
    const int q = draw_jpeg_quality(JpegOptions{}, replay);
    EXPECT_TRUE(q == 10 || q == 20 || q == 30 || q == 40) << q;
    EXPECT_TRUE(mats_equal(out.input, opencv_jpeg(b, q))) << "seed " << seed << " q " << q;
    EXPECT_TRUE(mats_equal(out.input, jpeg_roundtrip(b, q)));
    EXPECT_TRUE(mats_equal(out.background, b));
    cv::Mat noise = (out.input - out.background) * 0.5 + cv::Scalar::all(0.5);
    EXPECT_TRUE(mats_equal(out.noise, noise));
    EXPECT_FALSE(mats_equal(out.input, b));
  }
}

TEST(JpegSynth, LowerQualityGivesLowerPsnr) {
  const cv::Mat b = textured(64, 64, 2);
  const double p10 = psnr(jpeg_roundtrip(b, 10), b), p40 = psnr(jpeg_roundtrip(b, 40), b);
  EXPECT_LT(p10, p40 - 1.0) << p10 << " vs " << p40;
  // The same through the synthesis with one-quality lists.
  Rng r1(5), r2(5);
  const auto s10 = synths().make("jpeg", jpeg_cfg({"synth.jpeg.quality=[10]"}))->synthesize({b, {}, {}}, r1);
  const auto s40 = synths().make("jpeg", jpeg_cfg({"synth.jpeg.quality=[40]"}))->synthesize({b, {}, {}}, r2);
  EXPECT_NEAR(psnr(s10.input, s10.background), p10, 1e-9);
  EXPECT_NEAR(psnr(s40.input, s40.background), p40, 1e-9);
}

TEST(JpegSynth, DeterministicPerSeedAndSeedsDiffer) {
  const SynthPtr s = synths().make("jpeg", jpeg_cfg());
  const cv::Mat b = textured(32, 32, 3);
  Rng a(11), c(11);
  EXPECT_TRUE(mats_equal(s->synthesize({b, {}, {}}, a).input, s->synthesize({b, {}, {}}, c).input));
  std::set<double> sums;  // four qualities: some seeds must give different images
  for (uint64_t seed = 0; seed < 16; ++seed) {
    Rng r(seed);
    sums.insert(cv::sum(s->synthesize({b, {}, {}}, r).input)[0]);
  }
  EXPECT_GE(sums.size(), 2u);
}

TEST(JpegSynth, BackgroundIsQuantisedTo8Bits) {
  cv::Mat b(24, 24, CV_32FC3);
  Rng fill(4);
  for (int y = 0; y < b.rows; ++y)
    for (int k = 0; k < b.cols * 3; ++k) b.ptr<float>(y)[k] = static_cast<float>(fill.uniform());
  ASSERT_FALSE(on_8bit_grid(b));
  Rng rng(0);
  const SynthOutput out = synths().make("jpeg", jpeg_cfg())->synthesize({b, {}, {}}, rng);
  EXPECT_TRUE(on_8bit_grid(out.background));
  EXPECT_TRUE(on_8bit_grid(out.input));
  EXPECT_LE(cv::norm(out.background, b, cv::NORM_INF), 0.5 / 255.0 + 1e-6);
  EXPECT_TRUE(mats_equal(out.background, quantize_8bit(b)));
}

TEST(JpegSynth, RefusesBadQualitiesNamingTheKey) {
  using dmgn::testing::error_of;
  EXPECT_NE(error_of<ConfigError>([] { synths().make("jpeg", jpeg_cfg({"synth.jpeg.quality=[0]"})); })
                .find("synth.jpeg.quality"),
            std::string::npos);
  EXPECT_NE(error_of<ConfigError>([] { synths().make("jpeg", jpeg_cfg({"synth.jpeg.quality=[]"})); })
                .find("synth.jpeg.quality"),
            std::string::npos);
  EXPECT_NE(error_of<ConfigError>([] { JpegOptions{{50, 101}}.validate("synth.jpeg"); }).find("synth.jpeg.quality"),
            std::string::npos);
  EXPECT_NE(error_of<DataError>([] { jpeg_roundtrip(textured(8, 8, 0), 0); }).find("quality"), std::string::npos);
}

// ---- mixed ------------------------------------------------------------------------------

TEST(MixedSynth, JpegAloneIsARoundTripAtAQualityIn15To50) {
  const SynthPtr s = synths().make("mixed", mixed_cfg({"synth.mixed.factors=[\"jpeg\"]"}));
  EXPECT_EQ(s->task(), "mixed");
  EXPECT_EQ(s->name(), "mixed");
  const cv::Mat b = textured(40, 40, 5);
  for (uint64_t seed = 0; seed < 4; ++seed) {
    Rng rng(seed);
    const SynthOutput out = s->synthesize({b, {}, {}}, rng);
    int hits = 0;
    for (int q = 15; q <= 50; ++q) hits += mats_equal(out.input, jpeg_roundtrip(b, q)) ? 1 : 0;
    EXPECT_GE(hits, 1) << "seed " << seed;
    EXPECT_TRUE(mats_equal(out.background, b));
  }
}

TEST(MixedSynth, HazeAloneFollowsResideBetaWithAGivenDepth) {
  const SynthPtr s = synths().make("mixed", mixed_cfg({"synth.mixed.factors=[\"haze\"]"}));
  const cv::Mat b = textured(32, 32, 6);
  const cv::Mat depth(32, 32, CV_32FC1, cv::Scalar(0.5f));  // divided by its maximum: d = 1
  const MixedOptions o;
  for (uint64_t seed = 0; seed < 4; ++seed) {
    Rng rng(seed);
    const cv::Mat in = s->synthesize({b, {}, depth}, rng).input;
    int matches = 0;
    for (const double a : o.haze_airlight)
      for (const double beta : o.haze_beta) {
        const double t = std::exp(-beta * o.depth_scale * 1.0);
        cv::Mat want = b * t + cv::Scalar::all(a * (1.0 - t));
        if (cv::norm(in, want, cv::NORM_INF) < 1e-5) ++matches;
      }
    EXPECT_EQ(matches, 1) << "seed " << seed;
  }
}

TEST(MixedSynth, HazeComesBeforeJpegWhateverTheListOrder) {
  const SynthPtr s = synths().make("mixed", mixed_cfg({"synth.mixed.factors=[\"jpeg\", \"haze\"]"}));
  const cv::Mat b = textured(24, 24, 7);
  const cv::Mat depth(24, 24, CV_32FC1, cv::Scalar(1.0f));
  const MixedOptions o;
  Rng rng(3);
  const cv::Mat in = s->synthesize({b, {}, depth}, rng).input;
  EXPECT_TRUE(on_8bit_grid(in));  // JPEG last
  int matches = 0;
  for (const double a : o.haze_airlight)
    for (const double beta : o.haze_beta) {
      const cv::Mat hazy = mixed_haze(b, depth, a, beta, o.depth_scale);
      for (int q = 15; q <= 50; ++q) matches += mats_equal(in, jpeg_roundtrip(hazy, q)) ? 1 : 0;
    }
  EXPECT_GE(matches, 1);
}

TEST(MixedSynth, ImageMagickMotionKernelIsOneSidedAndSumsToOne) {
  const MotionBlurTaps k = imagemagick_motion_kernel(10, 3, 0);
  ASSERT_EQ(k.weights.size(), 21u);  // 2 ceil(radius) + 1
  double sum = 0;
  for (size_t i = 0; i < k.weights.size(); ++i) {
    sum += k.weights[i];
    if (i > 0) {
      EXPECT_LE(k.weights[i], k.weights[i - 1]);
    }
    EXPECT_EQ(k.offsets[i], cv::Point(static_cast<int>(i), 0));
  }
  EXPECT_NEAR(sum, 1.0, 1e-12);
  EXPECT_NEAR(k.weights[1] / k.weights[0], std::exp(-1.0 / 18.0), 1e-12);
  for (const double angle : {-45.0, -20.0, 30.0, 90.0}) {
    const MotionBlurTaps t = imagemagick_motion_kernel(15, 12, angle);
    ASSERT_EQ(t.offsets.size(), 31u);
    const double c = std::cos(angle * kPi / 180), sn = std::sin(angle * kPi / 180);
    for (size_t i = 0; i < t.offsets.size(); ++i) {
      EXPECT_LE(std::fabs(t.offsets[i].x - i * c), 0.5 + 1e-9);
      EXPECT_LE(std::fabs(t.offsets[i].y - i * sn), 0.5 + 1e-9);
    }
  }
  // A bright point becomes a streak on one side of it only: out(q) = sum w_i in(q + o_i), so
  // the point p lights q = p - o_i.
  cv::Mat dot(41, 41, CV_32FC3, cv::Scalar::all(0));
  dot.at<cv::Vec3f>(20, 20) = cv::Vec3f(1, 1, 1);
  const double angle = 30;
  const cv::Mat out = imagemagick_motion_blur(dot, 10, 3, angle);
  const double c = std::cos(angle * kPi / 180), sn = std::sin(angle * kPi / 180);
  int lit = 0;
  double far = 0;
  for (int y = 0; y < out.rows; ++y)
    for (int x = 0; x < out.cols; ++x) {
      if (out.at<cv::Vec3f>(y, x)[0] <= 0) continue;
      ++lit;
      const double along = (x - 20) * c + (y - 20) * sn;
      EXPECT_LE(along, 1e-9) << "lit pixel ahead of the point at (" << x << ", " << y << ")";
      far = std::min(far, along);
    }
  EXPECT_GE(lit, 15);
  EXPECT_LE(far, -15.0);
  EXPECT_NEAR(cv::sum(out)[0], 1.0, 1e-5);
  EXPECT_NEAR(out.at<cv::Vec3f>(20, 20)[0], imagemagick_motion_kernel(10, 3, angle).weights[0], 1e-6);
}

TEST(MixedSynth, RainLayerStreaksAlongItsAngleAndScreenBrightens) {
  const cv::Mat r1 = gimp_rain_layer(48, 48, 0.7, 20, 90, 42), r2 = gimp_rain_layer(48, 48, 0.7, 20, 90, 42);
  EXPECT_TRUE(mats_equal(r1, r2));
  EXPECT_FALSE(mats_equal(r1, gimp_rain_layer(48, 48, 0.7, 20, 90, 43)));
  double lo = 0, hi = 0;
  cv::minMaxLoc(r1, &lo, &hi);
  EXPECT_GE(lo, 0.0);
  EXPECT_LE(hi, 1.0);
  // Vertical streaks: neighbours along a column agree more than along a row.
  double dv = 0, dh = 0;
  for (int y = 0; y + 1 < r1.rows; ++y)
    for (int x = 0; x + 1 < r1.cols; ++x) {
      dv += std::fabs(r1.at<float>(y + 1, x) - r1.at<float>(y, x));
      dh += std::fabs(r1.at<float>(y, x + 1) - r1.at<float>(y, x));
    }
  EXPECT_LT(dv, 0.5 * dh);
  const cv::Mat b = textured(48, 48, 8);
  const cv::Mat rainy = screen_blend(b, r1);
  cv::Mat below;
  cv::compare(rainy + cv::Scalar::all(1e-6), b, below, cv::CMP_LT);
  EXPECT_EQ(cv::countNonZero(below.reshape(1)), 0);
}

TEST(MixedSynth, RandomCombinationsDrawOneToAllDistinctFactors) {
  MixedOptions o;
  o.factors = {"jpeg", "rain", "haze", "blur"};  // the list's order does not matter
  Rng fixed(0);
  EXPECT_EQ(mixed_factors_for(o, fixed), mixed_factor_order());
  o.random = true;
  Rng rng(3);
  std::map<size_t, int> counts;
  std::map<std::string, int> seen;
  for (int i = 0; i < 2000; ++i) {
    const auto f = mixed_factors_for(o, rng);
    ++counts[f.size()];
    for (const auto& name : f) ++seen[name];
    // distinct and in the order of application
    std::vector<std::string> ordered;
    for (const auto& name : mixed_factor_order())
      if (std::count(f.begin(), f.end(), name)) ordered.push_back(name);
    EXPECT_EQ(f, ordered);
  }
  ASSERT_EQ(counts.size(), 4u);
  for (size_t x = 1; x <= 4; ++x) EXPECT_GT(counts[x], 350) << x;  // ~500 each
  for (const auto& name : mixed_factor_order()) EXPECT_GT(seen[name], 800) << name;  // ~1250 each
  o.factors = {"blur", "jpeg"};
  for (int i = 0; i < 50; ++i) {
    const auto f = mixed_factors_for(o, rng);
    EXPECT_TRUE(f.size() == 1 || f.size() == 2);
    for (const auto& name : f) EXPECT_TRUE(name == "blur" || name == "jpeg");
  }
}

TEST(MixedSynth, AllFactorsDeterministicInRangeAndSizeChecked) {
  const SynthPtr s = synths().make("mixed", mixed_cfg());
  const cv::Mat b = textured(48, 64, 9);
  Rng a(21), c(21), d(22);
  const SynthOutput o1 = s->synthesize({b, {}, {}}, a), o2 = s->synthesize({b, {}, {}}, c);
  EXPECT_TRUE(mats_equal(o1.input, o2.input));
  EXPECT_FALSE(mats_equal(o1.input, s->synthesize({b, {}, {}}, d).input));
  EXPECT_TRUE(on_8bit_grid(o1.input));  // JPEG is the last factor
  double lo = 0, hi = 0;
  cv::minMaxLoc(o1.input.reshape(1), &lo, &hi);
  EXPECT_GE(lo, 0.0);
  EXPECT_LE(hi, 1.0);
  EXPECT_TRUE(mats_equal(o1.noise, (o1.input - o1.background) * 0.5 + cv::Scalar::all(0.5)));
  EXPECT_TRUE(o1.extra.empty());
  // Too small for the radius-15 blur (31 px), named; without blur any size goes.
  Rng e(0);
  EXPECT_NE(dmgn::testing::error_of<DataError>([&] { s->synthesize({textured(20, 40, 1), {}, {}}, e); }).find("mixed"),
            std::string::npos);
  EXPECT_NO_THROW(synths()
                      .make("mixed", mixed_cfg({"synth.mixed.factors=[\"haze\", \"rain\", \"jpeg\"]"}))
                      ->synthesize({textured(12, 12, 1), {}, {}}, e));
}

TEST(MixedSynth, RefusesBadFactorsAndParametersNamingTheKey) {
  using dmgn::testing::error_of;
  EXPECT_NE(error_of<ConfigError>([] { synths().make("mixed", mixed_cfg({"synth.mixed.factors=[\"snow\"]"})); })
                .find("synth.mixed.factors"),
            std::string::npos);
  EXPECT_NE(error_of<ConfigError>([] { synths().make("mixed", mixed_cfg({"synth.mixed.factors=[]"})); })
                .find("synth.mixed.factors"),
            std::string::npos);
  MixedOptions o;
  o.factors = {"haze", "snow"};
  EXPECT_NE(error_of<ConfigError>([&] { o.validate("synth.mixed"); }).find("synth.mixed.factors"), std::string::npos);
  o = MixedOptions{};
  o.factors = {"haze", "haze"};
  EXPECT_NE(error_of<ConfigError>([&] { o.validate("synth.mixed"); }).find("synth.mixed.factors"), std::string::npos);
  o = MixedOptions{};
  o.blur_sigma.pop_back();
  EXPECT_NE(error_of<ConfigError>([&] { o.validate("synth.mixed"); }).find("synth.mixed.blur_sigma"),
            std::string::npos);
  EXPECT_NE(error_of<ConfigError>([] { synths().make("mixed", mixed_cfg({"synth.mixed.jpeg_quality=[50, 15]"})); })
                .find("synth.mixed.jpeg_quality"),
            std::string::npos);
}
