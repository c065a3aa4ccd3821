// framework/data: image I/O, reflection synthesis (checked against the official code with
// fixed draws), the built-in dataset and the loader. Fixtures are written under
// $DMGN_TEST_TMP/<unique folder>.
#include <fmt/format.h>
#include <fmt/ranges.h>  // fmt::join (its home since fmt 11)
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/config.h"
#include "core/error.h"
#include "core/rng.h"
#include "data/augment.h"
#include "data/builtin.h"
#include "data/builtins.h"
#include "data/dataset.h"
#include "data/image_io.h"
#include "data/loader.h"
#include "data/synth_reflection.h"
#include "test_util.h"

namespace fs = std::filesystem;
using namespace dmgn;
using namespace dmgn::data;

namespace {

// augment() on a pair with the official defaults and a `crop` x `crop` output.
std::pair<cv::Mat, cv::Mat> pair_crop(const cv::Mat& t, const cv::Mat& r, int crop, Rng& rng) {
  AugmentOptions o;
  o.crop = crop;
  auto out = augment({t, r}, o, rng);
  return {out[0], out[1]};
}

fs::path test_dir() {
  return dmgn::testing::scratch(
      fmt::format("data_{}", ::testing::UnitTest::GetInstance()->current_test_info()->name()));
}

// The 12x16 uint8 patterns used for the reference values computed with the official code.
cv::Mat pattern(int mul, int add, int mod, int base) {
  cv::Mat m(12, 16, CV_32FC3);
  for (int y = 0; y < 12; ++y)
    for (int x = 0; x < 16; ++x)
      for (int c = 0; c < 3; ++c) {
        const int v = base + (((y * 16 + x) * 3 + c) * mul + add) % mod;
        m.ptr<float>(y)[3 * x + c] = static_cast<float>(v) / 255.0f;
      }
  return m;
}

// A smooth random photo-like image.
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

double mat_sum(const cv::Mat& m) {
  const cv::Scalar s = cv::sum(m);
  return s[0] + s[1] + s[2];
}

bool mats_equal(const cv::Mat& a, const cv::Mat& b) {
  return a.size() == b.size() && a.type() == b.type() && cv::norm(a, b, cv::NORM_INF) == 0.0;
}

// Writes six photos of different sizes and brightness; returns their names.
std::vector<std::string> write_photos(const fs::path& dir) {
  const std::vector<std::tuple<std::string, int, int, float>> specs = {
      {"p0.png", 400, 600, 0.9f}, {"p1.png", 451, 300, 0.7f}, {"p2.png", 256, 256, 1.0f},
      {"p3.jpg", 200, 320, 0.5f}, {"p4.png", 700, 560, 0.8f}, {"p5.png", 150, 200, 0.6f}};
  std::vector<std::string> names;
  uint64_t seed = 11;
  for (const auto& [name, rows, cols, bright] : specs) {
    write_image(dir / name, random_photo(rows, cols, seed++, bright));
    names.push_back(name);
  }
  return names;
}

Config builtin_config(const fs::path& root, const std::vector<std::string>& photos, int64_t seed,
                      std::vector<std::string> extra = {}) {
  std::vector<std::string> quoted;
  for (const auto& p : photos) quoted.push_back(fmt::format("\"{}\"", p));
  std::vector<std::string> o = {fmt::format("data.builtin.root=\"{}\"", root.string()),
                                fmt::format("data.builtin.photos=[{}]", fmt::join(quoted, ",")),
                                "data.builtin.heldout=2",
                                "data.builtin.heldout_photos=[]",
                                "data.builtin.train_pairs=8",
                                "data.builtin.heldout_pairs=5",
                                "data.builtin.heldout_size=48",
                                "data.crop=40",
                                fmt::format("run.seed={}", seed)};
  o.insert(o.end(), extra.begin(), extra.end());
  return Config::defaults(o);
}

// The photo names in a sample id "builtin/<split>/...:<T>+<R>".
std::pair<std::string, std::string> id_photos(const std::string& id) {
  const auto colon = id.rfind(':');
  const auto plus = id.find('+', colon);
  return {id.substr(colon + 1, plus - colon - 1), id.substr(plus + 1)};
}

// Index-labelled samples for loader tests.
class CountingDataset final : public Dataset {
 public:
  explicit CountingDataset(size_t n) : n_(n) {}
  size_t size() const override { return n_; }
  Sample make(size_t index, uint64_t epoch) const override {
    const auto v = static_cast<float>(index);
    return Sample{torch::full({3, 2, 2}, v), torch::full({3, 2, 2}, v), {}, std::to_string(index)};
  }
  std::string name() const override { return "counting"; }
  std::map<std::string, std::string> provenance() const override {
    return {{"dataset", "counting"}};
  }

 private:
  size_t n_;
};

std::vector<std::string> epoch_ids(Loader& loader, uint64_t epoch) {
  loader.start_epoch(epoch);
  std::vector<std::string> ids;
  while (auto b = loader.next()) ids.insert(ids.end(), b->ids.begin(), b->ids.end());
  return ids;
}

TEST(DataBatch, CollateStacksEveryNamedFieldAndNamesAMismatch) {
  const auto t = [](float v, int64_t c = 3) { return torch::full({c, 4, 4}, v); };
  Sample a(t(0), t(1), {}, "a", "haze"), b(t(2), t(3), {}, "b", "haze");
  a.set("transmission", t(0.5f, 1));
  b.set("transmission", t(0.25f, 1));
  const Batch batch = collate({a, b});
  EXPECT_EQ(batch.at("transmission").sizes(), (std::vector<int64_t>{2, 1, 4, 4}));
  EXPECT_EQ(batch.input().sizes(), (std::vector<int64_t>{2, 3, 4, 4}));
  EXPECT_FALSE(batch.has("noise"));
  EXPECT_EQ(batch.tasks, (std::vector<std::string>{"haze", "haze"}));
  EXPECT_EQ(batch.fields.names(), (std::vector<std::string>{"background", "input", "transmission"}));
  // A field only some samples have, or of another shape: a DataError naming sample and field.
  Sample c(t(4), t(5), {}, "c");
  EXPECT_NE(dmgn::testing::error_of<DataError>([&] { collate({a, c}); })
                .find("sample 'c' has no transmission but sample 'a' has transmission 1x4x4"),
            std::string::npos);
  EXPECT_NE(dmgn::testing::error_of<DataError>([&] { collate({c, a}); })
                .find("sample 'a' has transmission 1x4x4 but sample 'c' has none"),
            std::string::npos);
  Sample d(t(4), t(5), {}, "d");
  d.set("transmission", torch::zeros({1, 2, 2}));
  EXPECT_NE(dmgn::testing::error_of<DataError>([&] { collate({a, d}); })
                .find("sample 'd' has transmission 1x2x2 but sample 'a' has 1x4x4"),
            std::string::npos);
  // A missing field is named with the fields the sample has.
  EXPECT_NE(dmgn::testing::error_of<DataError>([&] { (void)c.at("depth"); })
                .find("sample 'c' has no 'depth' (it has: background, input)"),
            std::string::npos);
}

}  // namespace

TEST(DataImageIo, RoundTripConversionsAndErrors) {
  const fs::path dir = test_dir();
  const cv::Mat img = random_photo(20, 30, 1, 1.0f);
  write_image(dir / "sub" / "a.png", img);  // creates the folder
  const cv::Mat back = read_image(dir / "sub" / "a.png");
  ASSERT_EQ(back.type(), CV_32FC3);
  ASSERT_EQ(back.size(), img.size());
  EXPECT_LE(cv::norm(back, img, cv::NORM_INF), 0.5 / 255 + 1e-6);  // 8-bit rounding only

  // RGB order survives: a pure red image stays red.
  cv::Mat red(4, 4, CV_32FC3, cv::Scalar(1, 0, 0));
  write_image(dir / "red.png", red);
  const cv::Mat u8 = cv::imread((dir / "red.png").string(), cv::IMREAD_COLOR);
  EXPECT_EQ(u8.at<cv::Vec3b>(0, 0), cv::Vec3b(0, 0, 255));  // BGR on disk
  EXPECT_TRUE(mats_equal(read_image(dir / "red.png"), red));

  // Gray -> 3 equal channels; 16-bit scaled; alpha dropped.
  cv::imwrite((dir / "gray.png").string(), cv::Mat(3, 5, CV_8UC1, cv::Scalar(51)));
  const cv::Mat gray = read_image(dir / "gray.png");
  ASSERT_EQ(gray.type(), CV_32FC3);
  EXPECT_FLOAT_EQ(gray.at<cv::Vec3f>(1, 1)[0], 0.2f);
  EXPECT_FLOAT_EQ(gray.at<cv::Vec3f>(1, 1)[2], 0.2f);
  cv::imwrite((dir / "deep.png").string(), cv::Mat(3, 5, CV_16UC3, cv::Scalar(0, 65535, 13107)));
  const cv::Vec3f deep = read_image(dir / "deep.png").at<cv::Vec3f>(2, 4);
  EXPECT_FLOAT_EQ(deep[0], 0.2f);  // R = the third BGR channel
  EXPECT_FLOAT_EQ(deep[1], 1.0f);
  EXPECT_FLOAT_EQ(deep[2], 0.0f);
  cv::imwrite((dir / "alpha.png").string(), cv::Mat(2, 2, CV_8UC4, cv::Scalar(255, 0, 0, 10)));
  EXPECT_EQ(read_image(dir / "alpha.png").at<cv::Vec3f>(0, 0), cv::Vec3f(0, 0, 1));

  // Tensor conversions are exact inverses.
  const torch::Tensor t = to_tensor(img);
  EXPECT_EQ(t.sizes(), (std::vector<int64_t>{3, 20, 30}));
  EXPECT_FLOAT_EQ(t[2][5][7].item<float>(), img.at<cv::Vec3f>(5, 7)[2]);
  EXPECT_TRUE(mats_equal(to_mat(t), img));

  // Errors name the file.
  const fs::path missing = dir / "missing.png";
  try {
    read_image(missing);
    FAIL() << "no IoError";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find(missing.string()), std::string::npos) << e.what();
  }
  const fs::path bad = dir / "bad.png";
  std::ofstream(bad) << "this is not a PNG file";
  try {
    read_image(bad);
    FAIL() << "no DataError";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find(fmt::format("cannot decode image '{}'", bad.string())),
              std::string::npos)
        << e.what();
  }
}

// Reference numbers: the official ReflectionSythesis_2.__call__ (datasyn/transforms.py) run
// under numpy/scipy with its random draws replaced by the listed values and cv2.GaussianBlur
// by an equivalent separable filter (reflect-101 border).
TEST(DataSynth, Zhang2018MatchesOfficialWithFixedDraws) {
  const cv::Mat& mask = vignette_mask();
  ASSERT_EQ(mask.size(), cv::Size(560, 560));
  EXPECT_NEAR(mask.at<float>(0, 0), 0.01108029, 1e-7);
  EXPECT_NEAR(mask.at<float>(100, 200), 0.32934107, 1e-7);
  EXPECT_NEAR(mask.at<float>(279, 279), 1.0, 1e-7);
  EXPECT_NEAR(mask.at<float>(280, 300), 0.98796922, 1e-7);

  struct Case {
    cv::Mat t, r;
    Zhang2018Params p;
    double sum_r, sum_b;
    std::vector<double> r_px, b_px;  // at (0,0,0) (5,7,1) (11,15,2) (3,12,0)
  };
  const std::vector<Case> cases = {
      // Bright layers: 159/159/160 pixels over-exposed, so the compensation is exercised.
      {pattern(37, 0, 76, 180),
       pattern(53, 0, 106, 150),
       {10, 1.12, 100, 200, 0.9, false},
       180.7672869861126,
       494.2470978498459,
       {0.2988707423210144, 0.31325477361679077, 0.32832586765289307, 0.317566454410553},
       {0.7220106720924377, 0.8727743029594421, 0.9795240163803101, 0.8951563835144043}},
      {pattern(37, 200, 256, 0),
       pattern(53, 90, 256, 0),
       {79, 1.08, 0, 533, 0.85, true},
       38.34417153149843,
       273.0734521485865,
       {0.06464245915412903, 0.06629164516925812, 0.07171625643968582, 0.0708809494972229},
       {0.7300671935081482, 0.6067431569099426, 0.8285373449325562, 0.7449503540992737}},
  };
  const int px[4][3] = {{0, 0, 0}, {5, 7, 1}, {11, 15, 2}, {3, 12, 0}};
  for (const auto& c : cases) {
    const SynthOutput out = synthesize_zhang2018(c.t, c.r, c.p);
    EXPECT_TRUE(mats_equal(out.background, c.t));
    EXPECT_NEAR(mat_sum(out.noise), c.sum_r, 2e-4);
    EXPECT_NEAR(mat_sum(out.input), c.sum_b, 2e-4);
    for (int k = 0; k < 4; ++k) {
      EXPECT_NEAR(out.noise.at<cv::Vec3f>(px[k][0], px[k][1])[px[k][2]], c.r_px[k], 2e-6);
      EXPECT_NEAR(out.input.at<cv::Vec3f>(px[k][0], px[k][1])[px[k][2]], c.b_px[k], 2e-6);
    }
  }
}

TEST(DataSynth, Zhang2018RangesDeterminismAndLimits) {
  data::register_builtins();
  const SynthPtr synth = synths().make("reflection_zhang2018", Config::defaults());
  const cv::Mat t = random_photo(48, 64, 3, 1.0f), r = random_photo(48, 64, 4, 1.0f);
  const float unclipped_max = std::pow(2.0f, 1.0f / 2.2f) + 1e-5f;
  int clipped = 0;
  for (uint64_t seed = 0; seed < 12; ++seed) {
    Rng rng(seed), replay(seed);
    const SynthOutput out = synth->synthesize({t, r, {}}, rng);
    const Zhang2018Params p = draw_zhang2018_params(48, 64, replay);
    clipped += p.clip;
    for (const cv::Mat* m : {&out.background, &out.noise, &out.input}) {
      ASSERT_EQ(m->type(), CV_32FC3);
      ASSERT_EQ(m->size(), t.size());
    }
    EXPECT_TRUE(mats_equal(out.background, t));
    // What it knows beyond the triple: the reflection layer as it appears in I.
    ASSERT_EQ(out.extra.count("reflection"), 1u);
    EXPECT_TRUE(mats_equal(out.extra.at("reflection"), out.noise));
    double lo, hi;
    cv::minMaxLoc(out.noise.reshape(1), &lo, &hi);
    EXPECT_GE(lo, 0.0);
    EXPECT_LE(hi, 1.0);
    cv::minMaxLoc(out.input.reshape(1), &lo, &hi);
    EXPECT_GE(lo, 0.0);
    EXPECT_LE(hi, p.clip ? 1.0f : unclipped_max);
    // The blend keeps at least alpha2 >= 0.8 of T (in linear light): never darker than 0.8 T.
    cv::Mat deficit = 0.8 * t - out.input;
    cv::minMaxLoc(deficit.reshape(1), &lo, &hi);
    EXPECT_LE(hi, 1e-6) << "seed " << seed;
    // Same seed, same result; another seed, another one.
    Rng again(seed), other(seed + 100);
    EXPECT_TRUE(mats_equal(synth->synthesize({t, r, {}}, again).input, out.input));
    EXPECT_FALSE(mats_equal(synth->synthesize({t, r, {}}, other).input, out.input));
  }
  EXPECT_GT(clipped, 0);
  EXPECT_LT(clipped, 12);

  Zhang2018Params p;
  p.sigma_index = 0;
  EXPECT_DOUBLE_EQ(p.sigma(), 1.0);
  EXPECT_EQ(p.kernel_size(), 5);
  p.sigma_index = 79;
  EXPECT_DOUBLE_EQ(p.sigma(), 5.0);
  EXPECT_EQ(p.kernel_size(), 21);
  // The vignetting mask limits the size: 549 fits, 550 does not.
  Rng rng(1);
  EXPECT_NO_THROW(draw_zhang2018_params(549, 10, rng));
  const cv::Mat wide(10, 550, CV_32FC3, cv::Scalar::all(0.5));
  EXPECT_THROW(synth->synthesize({wide, wide, {}}, rng), DataError);
}

TEST(DataSynth, ErrnetMatchesOfficialAndPairedTransformIsShared) {
  // Reference: ERRNet's ReflectionSythesis_1 with sigma = 3.3 (same harness as above).
  const cv::Mat t = pattern(37, 0, 76, 180), r = pattern(53, 0, 106, 150);
  const SynthOutput out = synthesize_errnet(t, r, ErrnetParams{3.3, 1.3});
  EXPECT_TRUE(mats_equal(out.background, t));
  EXPECT_NEAR(mat_sum(out.noise), 43.40068280696869, 2e-4);
  EXPECT_NEAR(mat_sum(out.input), 522.0925878882408, 2e-4);
  EXPECT_NEAR(out.noise.at<cv::Vec3f>(5, 7)[1], 0.24405109882354736, 2e-6);
  EXPECT_NEAR(out.noise.at<cv::Vec3f>(3, 12)[0], 0.10626697540283203, 2e-6);
  EXPECT_FLOAT_EQ(out.input.at<cv::Vec3f>(5, 7)[1], 1.0f);
  data::register_builtins();
  EXPECT_EQ(synths().names(),
            (std::vector<std::string>{"blur_motion", "haze", "jpeg", "mixed", "rain", "rain_heavy", "rain_light",
                                      "reflection_errnet", "reflection_linear", "reflection_zhang2018", "sr_bicubic"}));

  // Short side -> even size, long side scaled, truncated, rounded up to even.
  const cv::Mat land = random_photo(300, 451, 5, 1.0f);
  EXPECT_EQ(resize_short_side(land, 320).size(), cv::Size(482, 320));
  EXPECT_EQ(resize_short_side(land.t(), 320).size(), cv::Size(320, 482));
  EXPECT_EQ(resize_short_side(land, 300).size(), land.size());  // already that size

  // One flip and one crop for both layers: R = T / 2 stays T / 2.
  const cv::Mat half = land * 0.5;
  std::set<double> crops;
  for (uint64_t seed = 0; seed < 6; ++seed) {
    Rng rng(seed);
    auto [tc, rc] = pair_crop(land, half, 64, rng);
    ASSERT_EQ(tc.size(), cv::Size(64, 64));
    ASSERT_EQ(rc.size(), cv::Size(64, 64));
    EXPECT_LE(cv::norm(rc, tc * 0.5, cv::NORM_INF), 1e-6);
    Rng again(seed);
    EXPECT_TRUE(mats_equal(pair_crop(land, half, 64, again).first, tc));
    crops.insert(cv::sum(tc)[0]);
  }
  EXPECT_GT(crops.size(), 1u);  // different seeds, different crops
  // A crop larger than the drawn short side enlarges the short side to the crop.
  Rng rng(3);
  EXPECT_EQ(pair_crop(land, land, 500, rng).first.size(), cv::Size(500, 500));
}

TEST(DataBuiltin, PhotoSplitsAreDisjointDeterministicAndValidated) {
  data::register_builtins();
  const fs::path dir = test_dir();
  const std::vector<std::string> photos = write_photos(dir);
  const Config cfg = builtin_config(dir, photos, 7);
  const auto train = BuiltinDataset::from_config(cfg, Split::train);
  const auto held =
      std::dynamic_pointer_cast<BuiltinDataset>(datasets().make("builtin", cfg, Split::heldout));
  ASSERT_TRUE(held);
  EXPECT_EQ(train->size(), 8u);
  EXPECT_EQ(held->size(), 5u);
  EXPECT_EQ(held->photo_names().size(), 2u);
  EXPECT_EQ(train->photo_names().size(), 4u);
  std::set<std::string> all;
  for (const auto& n : train->photo_names()) all.insert(n);
  for (const auto& n : held->photo_names()) EXPECT_TRUE(all.insert(n).second) << n << " in both";
  EXPECT_EQ(all.size(), photos.size());
  EXPECT_EQ(train->provenance().at("dataset"), "builtin-synthetic");

  // Samples use only their split's photos.
  const auto train_set = train->photo_names();
  const auto held_set = held->photo_names();
  for (size_t i = 0; i < train->size(); ++i) {
    const auto [a, b] = id_photos(train->get(i, 3).id);
    EXPECT_NE(a, b);
    EXPECT_NE(std::find(train_set.begin(), train_set.end(), a), train_set.end()) << a;
    EXPECT_NE(std::find(train_set.begin(), train_set.end(), b), train_set.end()) << b;
  }
  for (size_t i = 0; i < held->size(); ++i) {
    const auto [a, b] = id_photos(held->get(i, 0).id);
    EXPECT_NE(a, b);
    EXPECT_NE(std::find(held_set.begin(), held_set.end(), a), held_set.end()) << a;
    EXPECT_NE(std::find(held_set.begin(), held_set.end(), b), held_set.end()) << b;
  }

  // Deterministic in the seed; other seeds choose other held-out photos.
  EXPECT_EQ(
      BuiltinDataset::from_config(builtin_config(dir, photos, 7), Split::heldout)->photo_names(),
      held_set);
  std::set<std::vector<size_t>> splits;
  for (uint64_t seed = 0; seed < 8; ++seed) splits.insert(split_photos(6, 2, seed).heldout);
  EXPECT_GT(splits.size(), 2u);

  // An explicit held-out list replaces the seed's choice, whatever the seed.
  const std::string named = fmt::format("data.builtin.heldout_photos=[\"{}\",\"{}\"]", photos[4], photos[1]);
  for (int64_t seed : {7, 8}) {
    EXPECT_EQ(BuiltinDataset::from_config(builtin_config(dir, photos, seed, {named}), Split::heldout)->photo_names(),
              (std::vector<std::string>{photos[1], photos[4]}));
    const auto train_names =
        BuiltinDataset::from_config(builtin_config(dir, photos, seed, {named}), Split::train)->photo_names();
    EXPECT_EQ(train_names.size(), photos.size() - 2);
  }
  EXPECT_THROW(BuiltinDataset::from_config(
                   builtin_config(dir, photos, 7, {"data.builtin.heldout_photos=[\"absent.png\"]"}),
                   Split::heldout),
               ConfigError);

  // Bad photos and keys are one clear error naming the culprit.
  std::ofstream(dir / "broken.png") << "garbage";
  auto with_broken = photos;
  with_broken.push_back("broken.png");
  try {
    BuiltinDataset::from_config(builtin_config(dir, with_broken, 7), Split::train);
    FAIL() << "no DataError";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find((dir / "broken.png").string()), std::string::npos)
        << e.what();
  }
  auto with_missing = photos;
  with_missing.push_back("nowhere.png");
  EXPECT_THROW(BuiltinDataset::from_config(builtin_config(dir, with_missing, 7), Split::train),
               IoError);
  try {
    BuiltinDataset::from_config(builtin_config(dir, photos, 7, {"data.crop=600"}), Split::train);
    FAIL() << "no ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("data.crop"), std::string::npos) << e.what();
  }
}

TEST(DataBuiltin, SamplesAreDeterministicAndHeldoutIsFixed) {
  data::register_builtins();
  const fs::path dir = test_dir();
  const std::vector<std::string> photos = write_photos(dir);
  const Config cfg = builtin_config(dir, photos, 3);
  const auto train = BuiltinDataset::from_config(cfg, Split::train);
  const auto train2 = BuiltinDataset::from_config(cfg, Split::train);
  const auto held = BuiltinDataset::from_config(cfg, Split::heldout);

  const Sample a = train->get(2, 1);
  EXPECT_EQ(a.input().sizes(), (std::vector<int64_t>{3, 40, 40}));
  EXPECT_EQ(a.noise().sizes(), (std::vector<int64_t>{3, 40, 40}));
  EXPECT_GE(a.background().min().item<float>(), 0.f);
  EXPECT_LE(a.background().max().item<float>(), 1.f);
  const Sample b = train2->get(2, 1);  // another instance, same config
  EXPECT_TRUE(torch::equal(a.input(), b.input()));
  EXPECT_TRUE(torch::equal(a.noise(), b.noise()));
  EXPECT_EQ(a.id, b.id);
  EXPECT_FALSE(torch::equal(a.input(), train->get(2, 2).input()));  // new draws each epoch
  EXPECT_FALSE(torch::equal(a.input(), train->get(3, 1).input()));

  for (size_t i = 0; i < held->size(); ++i) {
    const Sample h0 = held->get(i, 0), h9 = held->get(i, 9);
    EXPECT_EQ(h0.input().sizes(), (std::vector<int64_t>{3, 48, 48}));
    EXPECT_TRUE(torch::equal(h0.input(), h9.input()));
    EXPECT_TRUE(torch::equal(h0.background(), h9.background()));
    EXPECT_EQ(h0.id, h9.id);
  }
  // The held-out pairs pass the official rejection test.
  EXPECT_FALSE(held->heldout_pairs().empty());

  // Concurrent get() calls give the serial results.
  std::vector<Sample> parallel(train->size());
  std::vector<std::thread> threads;
  for (int w = 0; w < 3; ++w)
    threads.emplace_back([&, w] {
      for (size_t i = w; i < train->size(); i += 3) parallel[i] = train->get(i, 4);
    });
  for (auto& th : threads) th.join();
  for (size_t i = 0; i < train->size(); ++i)
    EXPECT_TRUE(torch::equal(parallel[i].input(), train->get(i, 4).input())) << i;
}

TEST(DataLoader, ShardsAreDisjointAndCoverTheEpoch) {
  const auto ds = std::make_shared<CountingDataset>(10);
  for (bool drop_last : {true, false}) {
    std::vector<std::vector<std::string>> per_rank;
    for (int64_t rank = 0; rank < 2; ++rank) {
      Loader loader(ds, LoaderOptions{2, true, drop_last, 5, rank, 2, 0, 2});
      EXPECT_EQ(loader.batches_per_epoch(), drop_last ? 2 : 3);
      per_rank.push_back(epoch_ids(loader, 4));
      EXPECT_EQ(per_rank.back().size(), static_cast<size_t>(loader.batches_per_epoch() * 2));
      EXPECT_FALSE(loader.next().has_value());  // epoch over
    }
    std::multiset<std::string> seen(per_rank[0].begin(), per_rank[0].end());
    seen.insert(per_rank[1].begin(), per_rank[1].end());
    std::set<std::string> distinct(seen.begin(), seen.end());
    if (drop_last) {
      EXPECT_EQ(distinct.size(), 8u);  // disjoint: 8 different samples, none twice
      EXPECT_EQ(seen.size(), 8u);
    } else {
      EXPECT_EQ(distinct.size(), 10u);  // every sample, 2 of them twice (wrapped padding)
      EXPECT_EQ(seen.size(), 12u);
    }
  }

  // Epoch-seeded order; resume lands on the same batch.
  Loader a(ds, LoaderOptions{3, true, true, 5, 0, 1, 0, 2});
  Loader b(ds, LoaderOptions{3, true, true, 5, 0, 1, 0, 2});
  EXPECT_EQ(epoch_ids(a, 1), epoch_ids(b, 1));
  EXPECT_NE(epoch_ids(a, 1), epoch_ids(a, 2));
  a.start_epoch(6);
  a.next();
  const auto second = a.next();
  b.set_position(6, 1);
  EXPECT_EQ(b.next()->ids, second->ids);
  EXPECT_EQ(b.batch_index(), 2);
  EXPECT_EQ(b.epoch(), 6u);
  EXPECT_THROW((void)Loader(ds, LoaderOptions{6, true, true, 5, 0, 2, 0, 2}), DataError);
}

TEST(DataLoader, WorkersMatchSingleThreadBitwise) {
  data::register_builtins();
  const fs::path dir = test_dir();
  const Config cfg = builtin_config(dir, write_photos(dir), 9);
  const std::shared_ptr<const Dataset> ds = BuiltinDataset::from_config(cfg, Split::train);
  std::vector<Batch> reference;
  for (int64_t workers : {0, 1, 2}) {
    Loader loader(ds, LoaderOptions{3, true, false, 9, 1, 2, workers, 2});
    size_t k = 0;
    for (uint64_t epoch : {0, 1}) {
      loader.start_epoch(epoch);
      while (auto batch = loader.next()) {
        EXPECT_EQ(batch->input().sizes(), (std::vector<int64_t>{3, 3, 40, 40}));
        if (workers == 0) {
          reference.push_back(*batch);
          continue;
        }
        ASSERT_LT(k, reference.size());
        const Batch& ref = reference[k++];
        EXPECT_EQ(batch->ids, ref.ids);
        EXPECT_TRUE(torch::equal(batch->input(), ref.input()));
        EXPECT_TRUE(torch::equal(batch->background(), ref.background()));
        EXPECT_TRUE(torch::equal(batch->noise(), ref.noise()));
      }
    }
    if (workers > 0) {
      EXPECT_EQ(k, reference.size());
    }
  }
  EXPECT_EQ(reference.size(), 4u);  // 8 samples, 2 ranks x 3, padded: 2 batches x 2 epochs
}
