// Benchmark adapters (data/benchmarks.h, data/paired.h): the published layouts, open config
// tables, bad input under both policies, and the CLI around them (data check, eval --dataset,
// bench data). Every fixture is made here: tiny images written with OpenCV, HDF5 with libhdf5.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <set>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/error.h"
#include "data/benchmarks.h"
#include "data/builtins.h"
#include "data/check.h"
#include "data/image_files.h"
#include "data/image_io.h"
#include "data/loader.h"
#include "data/paired.h"
#include "proc_util.h"
#include "store/run_store.h"
#include "test_util.h"

#ifdef DMGN_HAVE_HDF5
#include <hdf5.h>
#endif

namespace fs = std::filesystem;
using namespace dmgn;
using namespace dmgn::data;
using dmgn::testing::scratch;

namespace {

// A w x h 8-bit image whose pixels depend on `seed` (BGR on disk).
cv::Mat pattern8(int w, int h, int seed, int channels = 3) {
  cv::Mat m(h, w, channels == 3 ? CV_8UC3 : CV_8UC1);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < channels; ++c)
        m.ptr<uchar>(y)[x * channels + c] = static_cast<uchar>((x * 7 + y * 13 + c * 50 + seed * 31) % 256);
  return m;
}

void write(const fs::path& p, int w, int h, int seed, int channels = 3) {
  fs::create_directories(p.parent_path());
  ASSERT_TRUE(cv::imwrite(p.string(), pattern8(w, h, seed, channels))) << p;
}

void write_bytes(const fs::path& p, const std::string& bytes) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << bytes;
}

std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The config with `sets` applied to the defaults.
Config with(const std::vector<std::string>& sets) {
  data::register_builtins();
  return Config::defaults(sets);
}

std::vector<std::string> ids(const Dataset& ds) {
  const auto* p = dynamic_cast<const PairedDataset*>(&ds);
  std::vector<std::string> out;
  if (p)
    for (const auto& f : p->listing().pairs) out.push_back(f.id);
  return out;
}

#ifdef DMGN_HAVE_HDF5
// An HDF5 file with float64 HxWx3 datasets, as DCPDN's generator writes them.
void write_h5(const fs::path& p, const std::map<std::string, cv::Mat>& sets) {
  fs::create_directories(p.parent_path());
  const hid_t f = H5Fcreate(p.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  for (const auto& [key, m8] : sets) {
    const hsize_t dims[3] = {static_cast<hsize_t>(m8.rows), static_cast<hsize_t>(m8.cols), 3};
    std::vector<double> v;
    for (int y = 0; y < m8.rows; ++y)
      for (int x = 0; x < m8.cols; ++x)
        for (int c = 0; c < 3; ++c) v.push_back(m8.at<cv::Vec3b>(y, x)[c] / 255.0);
    const hid_t space = H5Screate_simple(3, dims, nullptr);
    const hid_t ds = H5Dcreate2(f, key.c_str(), H5T_NATIVE_DOUBLE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data());
    H5Dclose(ds);
    H5Sclose(space);
  }
  H5Fclose(f);
}
#endif

}  // namespace

TEST(Datasets, OpenTablesValidateFillAndKeepRootsOutOfTheHash) {
  // A user-defined entry is filled from the template; an unknown key in it is refused.
  const Config c = with({"datasets.mine.root=/x", "datasets.mine.input_dir=rainy", "data.test=[\"mine\"]"});
  EXPECT_EQ(c.get_string("datasets.mine.adapter"), "paired");
  EXPECT_EQ(c.get_string("datasets.mine.target_dir"), "target");
  EXPECT_EQ(c.get_string("datasets.mine.input_dir"), "rainy");
  EXPECT_FALSE(c.has("datasets.*"));
  EXPECT_THROW(with({"datasets.mine.rooot=/x"}), ConfigError);
  EXPECT_THROW(with({"datasets.real20.bogus=1"}), ConfigError);
  // Predefined entries are complete.
  EXPECT_EQ(c.get_string("datasets.rain100h.adapter"), "rain100");
  EXPECT_EQ(c.get_string("datasets.rain100h.input_pattern"), c.get_string("datasets.mine.input_pattern"));
  // The canonical text round-trips with the user entry.
  EXPECT_EQ(Config::from_canonical(c.canonical()).hash(), c.hash());
  // Roots are not identity; the adapter of a used dataset is; unused entries are not.
  EXPECT_EQ(with({"datasets.mine.root=/y", "data.test=[\"mine\"]"}).hash(),
            with({"datasets.mine.root=/z", "data.test=[\"mine\"]"}).hash());
  EXPECT_NE(with({"datasets.mine.layout=\"x\"", "data.test=[\"mine\"]"}).hash(),
            with({"datasets.mine.layout=\"y\"", "data.test=[\"mine\"]"}).hash());
  EXPECT_EQ(with({"datasets.sots_indoor.layout=\"x\""}).hash(), with({}).hash());
  // ${DMGN_DATA}
  ::unsetenv("DMGN_DATA");
  EXPECT_EQ(expand_path("${DMGN_DATA}/Rain100H", "k"), "datasets/Rain100H");
  ::setenv("DMGN_DATA", "/data/b", 1);
  EXPECT_EQ(benchmark_root(c, "rain100h", Split::train), fs::path("/data/b/Rain100H/train"));
  ::unsetenv("DMGN_DATA");
  EXPECT_THROW(expand_path("${DMGN_SURELY_UNSET_VAR}/x", "k"), ConfigError);
  EXPECT_THROW(benchmark_root(c, "real20", Split::train), ConfigError);  // no train split
  EXPECT_THROW(open_dataset(c, "nosuchset", Split::heldout), ConfigError);
  EXPECT_TRUE(natural_less("rain-2.png", "rain-10.png"));
  EXPECT_FALSE(natural_less("rain-10.png", "rain-2.png"));
}

TEST(Datasets, PublishedLayoutsPairTheRightFiles) {
  const fs::path d = scratch("layouts");
  // Rain100H, PReNet: rainy/rain-NNN.png -> norain-NNN.png one folder up.
  for (int i : {1, 2, 10}) {
    write(d / "prenet/rainy" / fmt::format("rain-{:03d}.png", i), 12, 10, i);
    write(d / fmt::format("prenet/norain-{:03d}.png", i), 12, 10, 100 + i);
  }
  // Rain100L, MPRNet / Restormer: input/ + target/.
  for (int i : {1, 2}) {
    write(d / "mprnet/input" / fmt::format("{}.png", i), 12, 10, i);
    write(d / "mprnet/target" / fmt::format("{}.png", i), 12, 10, 50 + i);
  }
  // JORDER: rain/norain-Nx2.png -> norain/norain-N.png.
  write(d / "jorder/rain/norain-7x2.png", 12, 10, 7);
  write(d / "jorder/norain/norain-7.png", 12, 10, 8);
  // SOTS indoor: ten hazy per clear, clear 20 px larger in each side.
  for (int k = 1; k <= 10; ++k) write(d / "sots/hazy" / fmt::format("1400_{}.png", k), 16, 12, k);
  write(d / "sots/gt/1400.png", 36, 32, 0);
  // SOTS outdoor: hazy jpg -> gt png.
  write(d / "sotso/hazy/0001_0.8_0.2.jpg", 16, 12, 1);
  write(d / "sotso/gt/0001.png", 16, 12, 2);
  // O-HAZE release folder; only 41-45 kept.
  for (int i : {1, 41, 45})
    for (const char* kind : {"hazy", "GT"})
      write(d / "ohaze/# O-HAZY NTIRE 2018" / kind / fmt::format("{:02d}_outdoor_{}.jpg", i, kind), 12, 10, i);
  // SIR^2 release scene folders and postcards; ERRNet's blended / transmission_layer.
  write(d / "sir2/SolidObjectDataset/1/Focus/1/m.jpg", 12, 10, 1);
  write(d / "sir2/SolidObjectDataset/1/Focus/1/g.jpg", 12, 10, 2);
  write(d / "sir2/SolidObjectDataset/1/Focus/1/r.jpg", 12, 10, 3);
  write(d / "sir2/SolidObjectDataset/2/Focus/1/m.jpg", 12, 10, 4);  // no g.jpg
  write(d / "postcard/Postcard Dataset/x/ab-5-m-1.png", 12, 10, 1);
  write(d / "postcard/Postcard Dataset/x/ab-5-g-1.png", 12, 10, 2);
  write(d / "real20/blended/3.jpg", 12, 10, 1);
  write(d / "real20/transmission_layer/3.jpg", 12, 10, 2);
  write(d / "real20/blended/5.jpg", 12, 10, 3);  // not a test image: left out by `only`
  write(d / "real20/transmission_layer/5.jpg", 12, 10, 4);

  const auto open = [&](const std::string& name, const std::string& root, std::vector<std::string> extra = {}) {
    extra.push_back(fmt::format("datasets.{}.root=\"{}\"", name, (d / root).string()));
    return open_dataset(with(extra), name, Split::heldout);
  };
  auto prenet = open("rain100h", "prenet");
  EXPECT_EQ(ids(*prenet), (std::vector<std::string>{"rainy/rain-001.png", "rainy/rain-002.png", "rainy/rain-010.png"}));
  EXPECT_EQ(prenet->provenance().at("layout"), "prenet");
  const Sample s = prenet->get(2, 0);
  EXPECT_EQ(s.input().sizes(), (std::vector<int64_t>{3, 10, 12}));
  EXPECT_FALSE(s.noise().defined());
  EXPECT_EQ(s.id, "rain100h/rainy/rain-010.png");
  // The ground truth is norain-010.png: compare with the file itself.
  EXPECT_TRUE(torch::equal(s.background(), to_tensor(read_image(d / "prenet/norain-010.png"))));
  EXPECT_EQ(open("rain100l", "mprnet")->size(), 2u);
  EXPECT_EQ(open("rain100l", "jorder")->size(), 1u);
  auto indoor = open("sots_indoor", "sots");
  ASSERT_EQ(indoor->size(), 10u);
  EXPECT_EQ(indoor->get(9, 0).background().sizes(), (std::vector<int64_t>{3, 12, 16}));  // centre-cropped
  EXPECT_EQ(open("sots_outdoor", "sotso")->size(), 1u);
  auto ohaze = open("ohaze", "ohaze", {"datasets.ohaze.only=[\"41\", \"45\"]"});
  EXPECT_EQ(ids(*ohaze), (std::vector<std::string>{"# O-HAZY NTIRE 2018/hazy/41_outdoor_hazy.jpg",
                                                   "# O-HAZY NTIRE 2018/hazy/45_outdoor_hazy.jpg"}));
  EXPECT_THROW(open("ohaze", "ohaze", {"datasets.ohaze.only=[\"44\"]"}), ConfigError);  // names nothing
  auto solid = open("sir2_solid", "sir2", {"data.on_bad_sample=\"skip\""});
  EXPECT_EQ(ids(*solid), (std::vector<std::string>{"SolidObjectDataset/1/Focus/1/m.jpg"}));
  ASSERT_EQ(solid->listing_issues().size(), 1u);  // scene 2 has no g.jpg
  EXPECT_NE(solid->listing_issues()[0].message.find("2/Focus/1/m.jpg"), std::string::npos);
  // With "fail", the input without ground truth stops the listing, naming the file.
  try {
    open("sir2_solid", "sir2");
    FAIL() << "expected a DataError";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("2/Focus/1/m.jpg' has no ground truth"), std::string::npos) << e.what();
  }
  EXPECT_EQ(open("sir2_postcard", "postcard/Postcard Dataset")->size(), 1u);
  // Real20's predefined `only` names the 20 test ids; a folder lacking one is an error.
  EXPECT_THROW(open("real20", "real20"), ConfigError);
  EXPECT_EQ(ids(*open("real20", "real20", {"datasets.real20.only=[\"3\"]"})),
            (std::vector<std::string>{"blended/3.jpg"}));
  // No layout fits: the error names the root and every layout tried.
  try {
    open("rain100h", "sots");
    FAIL() << "expected an IoError";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("prenet"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("input-target"), std::string::npos) << e.what();
  }
  // A named layout that the adapter lacks.
  EXPECT_THROW(open("rain100h", "prenet", {"datasets.rain100h.layout=\"nope\""}), ConfigError);
  // The generic adapter with a file-name rule.
  write(d / "mine/rainy/r_1.png", 12, 10, 1);
  write(d / "mine/clean/c_1.jpg", 12, 10, 2);
  auto mine = open("mine", "mine",
                   {"datasets.mine.input_dir=\"rainy\"", "datasets.mine.target_dir=\"clean\"",
                    "datasets.mine.input_pattern='r_(\\d+)\\.png'", "datasets.mine.target_name=\"c_{1}.*\""});
  EXPECT_EQ(mine->size(), 1u);
  // Train split: the augmentation crops input and ground truth identically.
  auto train = open_dataset(with({fmt::format("datasets.rain100h.train_root=\"{}\"", (d / "prenet").string()),
                                  "data.crop=8", "data.augment.short_side=[0, 0]"}),
                            "rain100h", Split::train);
  const Sample t0 = train->get(0, 3), t1 = train->get(0, 3);
  EXPECT_EQ(t0.input().sizes(), (std::vector<int64_t>{3, 8, 8}));
  EXPECT_TRUE(torch::equal(t0.input(), t1.input()));
  EXPECT_TRUE(torch::equal(t0.background(), t1.background()));
#ifdef DMGN_HAVE_HDF5
  write_h5(d / "dcpdn/1.h5", {{"haze", pattern8(12, 10, 1)}, {"gt", pattern8(12, 10, 2)}, {"trans", pattern8(12, 10, 3)}});
  write_h5(d / "dcpdn/2.h5", {{"haze", pattern8(12, 10, 4)}, {"gt", pattern8(12, 10, 5)}});
  write_h5(d / "dcpdn/10.h5", {{"haze", pattern8(12, 10, 6)}});  // no 'gt'
  auto dcpdn = open("dcpdn_testa", "dcpdn");
  EXPECT_EQ(ids(*dcpdn), (std::vector<std::string>{"1.h5", "2.h5", "10.h5"}));
  const Sample h = dcpdn->get(1, 0);
  // The HDF5 array is stored in channel order as written (here BGR values of the pattern).
  EXPECT_NEAR(h.input()[0][0][0].item<float>(), pattern8(12, 10, 4).at<cv::Vec3b>(0, 0)[0] / 255.0, 1e-6);
  try {
    dcpdn->get(2, 0);
    FAIL() << "expected a DataError";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("10.h5' dataset 'gt': no such dataset"), std::string::npos) << e.what();
  }
#endif
}

TEST(Datasets, BadInputIsNamedAndThePolicyDecides) {
  const fs::path d = scratch("badinput");
  for (int i = 1; i <= 6; ++i) {
    write(d / "input" / fmt::format("{}.png", i), 12, 10, i);
    write(d / "target" / fmt::format("{}.png", i), 12, 10, 10 + i);
  }
  // 2: corrupt PNG (signature, then garbage); 3: a JPEG cut in half; 4: grey input (fine,
  // counted); 5: ground truth of another size; 7: input without ground truth.
  write_bytes(d / "input/2.png", std::string("\x89PNG\r\n\x1a\n", 8) + std::string(200, 'x'));
  fs::remove(d / "input/3.png");
  fs::remove(d / "target/3.png");
  ASSERT_TRUE(cv::imwrite((d / "input/3.jpg").string(), pattern8(64, 48, 3)));
  write(d / "target/3.png", 64, 48, 13);
  const std::string jpg = read_bytes(d / "input/3.jpg");
  write_bytes(d / "input/3.jpg", jpg.substr(0, jpg.size() / 2));
  write(d / "input/4.png", 12, 10, 4, 1);
  write(d / "target/5.png", 14, 10, 15);
  write(d / "input/7.png", 12, 10, 7);
  const std::vector<std::string> base{"datasets.b.root=\"" + d.string() + "\"", "data.test=[\"b\"]"};

  // fail: the missing ground truth stops the listing, naming the file and the others' count.
  try {
    open_dataset(with(base), "b", Split::heldout);
    FAIL() << "expected a DataError";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("input/7.png' has no ground truth"), std::string::npos) << e.what();
  }
  auto sets = base;
  sets.push_back("data.on_bad_sample=\"skip\"");
  auto ds = open_dataset(with(sets), "b", Split::heldout);
  ASSERT_EQ(ds->size(), 6u);  // 7 left out
  EXPECT_EQ(ds->provenance().at("unpaired_files"), "1");
  // Each bad sample throws a message naming its file.
  const auto message = [&](size_t i) {
    try {
      ds->get(i, 0);
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(message(1).find("cannot decode image '" + (d / "input/2.png").string()), std::string::npos) << message(1);
  EXPECT_NE(message(2).find("truncated JPEG"), std::string::npos) << message(2);
  EXPECT_NE(message(2).find("input/3.jpg"), std::string::npos) << message(2);
  EXPECT_EQ(message(3), "");
  EXPECT_EQ(ds->converted_files(), 1);
  EXPECT_NE(message(4).find("is 12x10 but ground truth '" + (d / "target/5.png").string() + "' is 14x10"),
            std::string::npos)
      << message(4);
  // check() classifies them.
  std::vector<std::string> kinds;
  for (size_t i = 0; i < ds->size(); ++i)
    for (const auto& issue : ds->check(i)) kinds.push_back(issue.kind);
  EXPECT_EQ(kinds, (std::vector<std::string>{"undecodable", "undecodable", "grayscale", "size_mismatch"}));

  // The loader skips them deterministically: the same batches with 0 and 3 worker threads.
  std::vector<std::vector<std::string>> runs;
  for (int workers : {0, 3}) {
    LoaderOptions o;
    o.batch_size = 2;
    o.shuffle = false;
    o.skip_bad = true;
    o.workers = workers;
    Loader loader(ds, o);
    std::vector<std::string> got;
    while (auto b = loader.next()) got.insert(got.end(), b->ids.begin(), b->ids.end());
    EXPECT_EQ(loader.bad_samples().count(), 3);
    runs.push_back(got);
  }
  EXPECT_EQ(runs[0], runs[1]);
  EXPECT_EQ(runs[0], (std::vector<std::string>{"b/input/1.png", "b/input/4.png", "b/input/4.png", "b/input/4.png",
                                               "b/input/6.png", "b/input/6.png"}));
  // Without skip the loader rethrows the file's error.
  LoaderOptions strict;
  strict.batch_size = 2;
  strict.shuffle = false;
  Loader loader(ds, strict);
  try {
    loader.next();
    FAIL() << "expected a DataError";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("input/2.png"), std::string::npos);
  }
}

TEST(Datasets, BrokenLinksAreOneBadSampleEachUnderBothPolicies) {
  const fs::path d = scratch("brokenlinks");  // 24x20: the paper model of base.toml takes >= 17x17
  for (int i = 1; i <= 3; ++i) {
    write(d / "input" / fmt::format("{}.png", i), 24, 20, i);
    write(d / "target" / fmt::format("{}.png", i), 24, 20, 10 + i);
  }
  // 4: the input links to nothing (its ground truth is fine); 5: the ground truth is a link
  // loop; loop.png: an input that links to itself; 9.png: a dangling ground truth no input uses.
  fs::create_symlink("gone.png", d / "input/4.png");
  write(d / "target/4.png", 24, 20, 14);
  write(d / "input/5.png", 24, 20, 5);
  fs::create_symlink("5.png", d / "target/5.png");
  fs::create_symlink("loop.png", d / "input/loop.png");
  fs::create_symlink("nowhere.png", d / "target/9.png");
  const std::vector<std::string> base{"datasets.b.root=\"" + d.string() + "\"", "data.test=[\"b\"]"};

  // fail: the first one stops the listing, naming the file, the OS reason and the others' count.
  const std::string failed = dmgn::testing::error_of<DataError>([&] { open_dataset(with(base), "b", Split::heldout); });
  EXPECT_NE(failed.find("'" + (d / "input/4.png").string() + "' is a broken link (No such file or directory)"),
            std::string::npos)
      << failed;
  EXPECT_NE(failed.find("and 2 more input(s)"), std::string::npos) << failed;

  // skip: the good pairs open and read; each broken link left out, counted and named.
  auto sets = base;
  sets.push_back("data.on_bad_sample=\"skip\"");
  const auto ds = open_dataset(with(sets), "b", Split::heldout);
  EXPECT_EQ(ids(*ds), (std::vector<std::string>{"input/1.png", "input/2.png", "input/3.png"}));
  for (size_t i = 0; i < ds->size(); ++i) EXPECT_NO_THROW(ds->get(i, 0));
  EXPECT_EQ(ds->provenance().at("bad_links"), "4");
  EXPECT_EQ(ds->provenance().at("unpaired_files"), "0");  // target/4.png is input 4's: not unpaired
  std::vector<std::string> files;
  for (const auto& i : ds->listing_issues()) {
    EXPECT_EQ(i.kind, "bad_link") << i.message;
    EXPECT_NE(i.message.find("'" + i.file + "' is a broken link ("), std::string::npos) << i.message;
    files.push_back(fs::path(i.file).lexically_relative(d).generic_string());
  }
  EXPECT_EQ(files, (std::vector<std::string>{"input/4.png", "target/5.png", "input/loop.png", "target/9.png"}));
  EXPECT_NE(ds->listing_issues()[1].message.find("ground truth of '" + (d / "input/5.png").string() + "'"),
            std::string::npos);
  EXPECT_NE(ds->listing_issues()[2].message.find("Too many levels of symbolic links"), std::string::npos)
      << ds->listing_issues()[2].message;

  // data check lists each as a problem (it opens with "skip"), and so does the command line.
  const auto checks = check_datasets(with(base), {"b"}, 1);
  ASSERT_EQ(checks.size(), 1u);
  EXPECT_EQ(checks[0].error, "");
  EXPECT_EQ(checks[0].samples, 3u);
  EXPECT_EQ(checks[0].problems(), 4);
  EXPECT_EQ(count_by_kind(checks[0].issues, true), "4 bad_link");
  const auto cli = dmgn::testing::dmgn_shell("data check " + std::string(DMGN_SOURCE_DIR) +
                                             "/experiments/base.toml --set 'datasets.b.root=\"" + d.string() +
                                             "\"' --dataset b");
  EXPECT_EQ(cli.code, 1) << cli.out;
  EXPECT_NE(cli.out.find("bad_link      '" + (d / "input/loop.png").string() + "' is a broken link"),
            std::string::npos)
      << cli.out;
  EXPECT_NE(cli.out.find("4 problem(s): 4 bad_link"), std::string::npos) << cli.out;

  // Recursive layout (SIR^2 scenes): a looping m.jpg is one bad sample; a folder link to the
  // root (a directory loop) is neither followed forever nor listed twice; a linked scene folder
  // outside the root is still listed.
  const fs::path r = d / "sir2";
  for (const char* scene : {"1", "2"}) {
    write(r / scene / "m.jpg", 12, 10, 1);
    write(r / scene / "g.jpg", 12, 10, 2);
  }
  write(r / "3/g.jpg", 12, 10, 3);
  fs::create_symlink("m.jpg", r / "3/m.jpg");
  fs::create_directory_symlink("..", r / "2/up");
  write(d / "elsewhere/m.jpg", 12, 10, 4);
  write(d / "elsewhere/g.jpg", 12, 10, 5);
  fs::create_directory_symlink(d / "elsewhere", r / "4");
  const std::vector<std::string> scenes{"datasets.sir2_solid.root=\"" + r.string() + "\"",
                                        "datasets.sir2_solid.layout=\"scenes\""};
  const std::string scenes_failed =
      dmgn::testing::error_of<DataError>([&] { open_dataset(with(scenes), "sir2_solid", Split::heldout); });
  EXPECT_NE(scenes_failed.find("'" + (r / "3/m.jpg").string() +
                               "' is a broken link (Too many levels of symbolic links)"),
            std::string::npos)
      << scenes_failed;
  auto scene_sets = scenes;
  scene_sets.push_back("data.on_bad_sample=\"skip\"");
  const auto solid = open_dataset(with(scene_sets), "sir2_solid", Split::heldout);
  // (the linked scene's id is its real path relative to the root, as before)
  EXPECT_EQ(ids(*solid), (std::vector<std::string>{"1/m.jpg", "2/m.jpg", "../elsewhere/m.jpg"}));
  EXPECT_EQ(solid->provenance().at("bad_links"), "2");
  std::vector<std::string> scene_issues;
  for (const auto& i : solid->listing_issues()) scene_issues.push_back(i.kind + " " + i.file);
  EXPECT_EQ(scene_issues, (std::vector<std::string>{"bad_link " + (r / "3/m.jpg").string(),
                                                    "bad_link " + (r / "2/up").string()}));
  EXPECT_NE(solid->listing_issues()[1].message.find("which is listed already"), std::string::npos);

  // Folders paired by stem (`dmgn score`, `dmgn study create` folder methods) have no skip
  // policy: a broken image link is a DataError naming it; a broken link of another name is
  // listed as ignored, like any file that is not an image.
  std::vector<std::string> ignored;
  fs::create_symlink("notes.txt", d / "target/notes.txt");
  const std::string by_stem = dmgn::testing::error_of<DataError>([&] { images_by_stem(d / "input", ignored); });
  EXPECT_NE(by_stem.find("is a broken link"), std::string::npos) << by_stem;
  fs::remove(d / "target/5.png");
  fs::remove(d / "target/9.png");
  EXPECT_EQ(images_by_stem(d / "target", ignored).size(), 4u);
  EXPECT_EQ(ignored, (std::vector<std::string>{(d / "target/notes.txt").string()}));
  const auto score = dmgn::testing::dmgn_shell("score " + (d / "input").string() + " " + (d / "target").string());
  EXPECT_EQ(score.code, 1) << score.out;
  EXPECT_NE(score.out.find("is a broken link"), std::string::npos) << score.out;
  EXPECT_EQ(std::count(score.out.begin(), score.out.end(), '\n'), 1) << score.out;
}

TEST(Datasets, DataCheckEvalAndBenchDataFromTheCommandLine) {
  using namespace dmgn::testing;
  const fs::path d = scratch("datacli");
  // A small paired benchmark of odd-sized images (37x29) plus one bad file.
  for (int i = 1; i <= 3; ++i) {
    write(d / "bench/input" / fmt::format("{}.png", i), 37, 29, i);
    write(d / "bench/target" / fmt::format("{}.png", i), 37, 29, 20 + i);
  }
  write_bytes(d / "bench/input/4.png", "not an image");
  write(d / "bench/target/4.png", 37, 29, 24);
  write(d / "bench/target/9.png", 37, 29, 29);  // ground truth without input: reported
  auto sets = tiny_run(d);
  sets.push_back("datasets.b.root=\"" + (d / "bench").string() + "\"");
  sets.push_back("datasets.b.task=\"rain\"");
  sets.push_back("train.max_steps=2");

  // data check: each problem named, summary, exit 1 under "fail", 0 under "skip".
  const std::string cfg = "experiments/quickstart.toml";
  auto args = with_sets({"data", "check", cfg, "--dataset", "b"}, sets);
  Child c = spawn_dmgn(args, (d / "check.log").string());
  EXPECT_EQ(wait_child(c, 60), 1);
  std::string log = read_text(c.log);
  EXPECT_NE(log.find("undecodable"), std::string::npos) << log;
  EXPECT_NE(log.find("bench/input/4.png"), std::string::npos) << log;
  EXPECT_NE(log.find("target/9.png' belongs to no input"), std::string::npos) << log;
  EXPECT_NE(log.find("summary: 1 dataset split(s), 4 samples, 2 problem(s)"), std::string::npos) << log;
  EXPECT_NE(log.find("dmgn: error: data check: 2 problem(s)"), std::string::npos) << log;
  args.push_back("--set");
  args.push_back("data.on_bad_sample=\"skip\"");
  c = spawn_dmgn(args, (d / "check_skip.log").string());
  EXPECT_EQ(wait_child(c, 60), 0) << read_text(c.log);

  // A tiny run, then eval on the benchmark: per-image and mean rows in the store.
  c = spawn_dmgn(with_sets({"train", cfg}, sets), (d / "train.log").string());
  ASSERT_EQ(wait_child(c, 120), 0) << read_text(c.log);
  store::RunStore store(d / "runs.sqlite");
  const auto runs = store.runs();
  ASSERT_EQ(runs.size(), 1u);
  const fs::path ckpt = fs::path(runs[0].run_dir) / "checkpoints" / "step_00000002.ckpt";
  ASSERT_TRUE(fs::exists(ckpt)) << ckpt;
  c = spawn_dmgn({"eval", ckpt.string(), "--dataset", "b", "--save-images", (d / "out").string(), "--set",
                  "data.on_bad_sample=\"skip\"", "--per-image"},
                 (d / "eval.log").string());
  ASSERT_EQ(wait_child(c, 120), 0) << read_text(c.log);
  log = read_text(c.log);
  EXPECT_NE(log.find("3 images, 1 skipped as bad"), std::string::npos) << log;
  // Per image, by file name; the convention and why, with the scores.
  EXPECT_NE(log.find("b/input/3.png"), std::string::npos) << log;
  EXPECT_NE(log.find("convention for b: eval.metric = auto: the rain100 convention, as 'b' is rain data"),
            std::string::npos)
      << log;
  // Training logged its final test scores per image (no checkpoint named); `dmgn eval` names one.
  std::vector<store::Evaluation> evals;
  for (const auto& e : store.evaluations())
    if (!e.checkpoint.empty()) evals.push_back(e);
    else EXPECT_NE(e.provenance.find("end_of_training=true"), std::string::npos) << e.provenance;
  ASSERT_EQ(evals.size(), 1u);
  EXPECT_EQ(evals[0].run_id, runs[0].id);
  EXPECT_EQ(evals[0].dataset, "b");
  EXPECT_EQ(evals[0].preset, "rain100");  // the dataset's task picks the convention
  EXPECT_EQ(evals[0].samples, 3);
  EXPECT_EQ(evals[0].skipped, 1);
  EXPECT_EQ(evals[0].step, 2);
  const auto images = store.eval_images(evals[0].id);
  ASSERT_EQ(images.size(), 3u);
  double mean = 0;
  for (const auto& i : images) mean += i.psnr / 3.0;
  EXPECT_NEAR(mean, evals[0].psnr, 1e-9);
  EXPECT_EQ(images[0].image, "b/input/1.png");
  // Saved under its own name, at its own size (the model ran on a padded copy), with the input and
  // ground truth beside it and the per-image scores as CSV.
  EXPECT_EQ(fs::path(images[2].output), d / "out/b/output/input/3.png");
  const cv::Mat saved = cv::imread(images[2].output);
  EXPECT_EQ(saved.size(), cv::Size(37, 29)) << images[2].output;
  EXPECT_TRUE(fs::exists(d / "out/b/input/input/3.png"));
  EXPECT_TRUE(fs::exists(d / "out/b/gt/input/3.png"));
  const std::string csv = read_text(d / "out/b/scores.csv");
  EXPECT_EQ(csv.rfind("image,psnr,ssim,psnr_input,ssim_input,output\nb/input/1.png,", 0), 0u) << csv;
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 4);
  // An evaluation is its own record: the run's test results stay its own test's.
  EXPECT_EQ(evals[0].origin, "eval");
  for (const auto& m : store.metrics(runs[0].id, "test")) EXPECT_NE(m.dataset, "b") << m.name;
  // Under "fail" the bad file stops the evaluation, naming it; nothing more is stored.
  c = spawn_dmgn({"eval", ckpt.string(), "--dataset", "b", "--set", "data.on_bad_sample=\"fail\"", "--set",
                  "datasets.b.only=[\"1\", \"4\"]"},
                 (d / "eval_fail.log").string());
  EXPECT_EQ(wait_child(c, 120), 1);
  EXPECT_NE(read_text(c.log).find("bench/input/4.png"), std::string::npos) << read_text(c.log);
  EXPECT_EQ(store.evaluations().size(), 2u);  // the end-of-training one and the first eval

  // bench data prints both rates and stores them.
  c = spawn_dmgn(with_sets({"bench", "data", cfg, "--batches", "4", "--warmup", "1", "--steps", "1",
                            "--train-warmup", "0"},
                           tiny_run(d)),
                 (d / "bench.log").string());
  ASSERT_EQ(wait_child(c, 120), 0) << read_text(c.log);
  log = read_text(c.log);
  EXPECT_NE(log.find("loader  :"), std::string::npos) << log;
  EXPECT_NE(log.find("trainer :"), std::string::npos) << log;
  std::set<std::string> names;
  for (const auto& b : store.benches("data")) names.insert(b.name);
  EXPECT_EQ(names, (std::set<std::string>{"loader_images_per_s", "train_images_per_s", "loader_to_train_ratio"}));
}

// Your own folder, declared once in a datasets file (its root relative to the file): every command
// reaches it by name with no --set (data check without a config, eval, report cross-system,
// report systems); `only` keeps blends without ground truth out of pairing; the evaluation is its
// own record (`dmgn evals`), not the run's test result (`dmgn runs`), and cross-system reuses it
// under the same convention.
TEST(Datasets, AFolderDeclaredOnceServesEveryCommand) {
  using namespace dmgn::testing;
  const fs::path d = scratch("datasets_file");
  for (int i = 1; i <= 3; ++i) {
    write(d / "photos/mine/input" / fmt::format("{}.png", i), 36, 28, i);
    write(d / "photos/mine/target" / fmt::format("{}.png", i), 36, 28, 40 + i);
  }
  write(d / "photos/mine/input/blend_a.png", 36, 28, 7);  // no ground truth
  write(d / "photos/mine/input/blend_b.jpg", 36, 28, 8);
  write_bytes(d / "photos/datasets.toml",
              "[datasets.mine]\ntask = \"rain\"\nroot = \"mine\"\nonly = [\"1\", \"2\", \"3\"]\n");
  const std::string dsf = (d / "photos/datasets.toml").string(), store = (d / "runs.sqlite").string();
  auto sets = tiny_run(d);
  sets.push_back("train.max_steps=2");
  Child c = spawn_dmgn(with_sets({"train", "experiments/quickstart.toml"}, sets), (d / "train.log").string());
  ASSERT_EQ(wait_child(c, 120), 0) << read_text(c.log);
  const auto runs = store::RunStore(store).runs();
  ASSERT_EQ(runs.size(), 1u);
  const std::string ckpt = (fs::path(runs[0].run_dir) / "checkpoints" / "step_00000002.ckpt").string();

  c = spawn_dmgn({"data", "check", "--dataset", "mine", "--datasets", dsf}, (d / "check.log").string());
  EXPECT_EQ(wait_child(c, 60), 0) << read_text(c.log);
  EXPECT_NE(read_text(c.log).find("3 samples"), std::string::npos) << read_text(c.log);

  c = spawn_dmgn({"eval", ckpt, "--dataset", "mine", "--datasets", dsf}, (d / "eval.log").string());
  ASSERT_EQ(wait_child(c, 120), 0) << read_text(c.log);
  EXPECT_NE(read_text(c.log).find("convention for mine: eval.metric = auto: the rain100 convention"),
            std::string::npos)
      << read_text(c.log);

  const auto evals = dmgn_shell("evals --store " + store);
  ASSERT_EQ(evals.code, 0) << evals.out;
  EXPECT_NE(evals.out.find("mine"), std::string::npos) << evals.out;
  EXPECT_NE(evals.out.find("rain100"), std::string::npos) << evals.out;
  EXPECT_EQ(evals.out.find("builtin"), std::string::npos) << evals.out;  // the run's own test: --origin train
  const auto listed = dmgn_shell("runs --store " + store);
  ASSERT_EQ(listed.code, 0) << listed.out;
  EXPECT_EQ(listed.out.find("mine"), std::string::npos) << listed.out;

  const auto cross = dmgn_shell("report cross-system --store " + store + " --dataset mine --datasets " + dsf);
  ASSERT_EQ(cross.code, 0) << cross.out;
  EXPECT_NE(cross.out.find("0 evaluation(s) computed now, 1 reused"), std::string::npos) << cross.out;
  EXPECT_NE(cross.out.find("PSNR (rain100"), std::string::npos) << cross.out;
  const auto systems = dmgn_shell("report systems --no-eval --store " + store);
  ASSERT_EQ(systems.code, 0) << systems.out;
  EXPECT_NE(systems.out.find("by `dmgn eval` of a run trained for reflection"), std::string::npos) << systems.out;

  // train --dataset: trains, validates and tests on it (its train split: the same folder here).
  write_bytes(d / "photos/train.toml", "[datasets.mine]\ntrain_root = \"mine\"\n");
  // The quickstart's and the --set data.builtin.* keys are for the data --dataset replaces: left out.
  c = spawn_dmgn(with_sets({"train", "experiments/quickstart.toml", "--dataset", "mine", "--datasets", dsf, "--datasets",
                            (d / "photos/train.toml").string()},
                           sets),
                 (d / "train_mine.log").string());
  ASSERT_EQ(wait_child(c, 120), 0) << read_text(c.log);
  EXPECT_NE(read_text(c.log).find("convention for mine: eval.metric = auto: the rain100 convention"),
            std::string::npos)
      << read_text(c.log);
  const auto tested = store::RunStore(store).final_metrics(2, "test");
  ASSERT_FALSE(tested.empty());
  EXPECT_EQ(tested[0].dataset, "mine");

  write_bytes(d / "bad.toml", "[train]\nmax_steps = 3\n");
  const auto bad = dmgn_shell("data check --dataset mine --datasets " + (d / "bad.toml").string());
  EXPECT_NE(bad.code, 0);
  EXPECT_NE(bad.out.find("is not a [datasets.<name>] table"), std::string::npos) << bad.out;
}
