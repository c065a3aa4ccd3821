// dmgn restore (cli/cmd_restore.cpp): a checkpoint on your own images without ground truth.
// Files, folders (recursively, their sub-paths kept) and globs; each output under its input's
// name and extension; grey 16-bit and alpha inputs as the loader reads them; a bad file named
// and skipped or fatal per --on-bad-sample; existing outputs refused; the written image is the
// model's restoration rounded to 8 bits (16 bits for a 16-bit PNG); --tile restores in tiles of
// the image's size; without --out, results go under the output root.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <string>
#include <vector>

#include "core/config.h"
#include "data/image_io.h"
#include "models/model.h"
#include "proc_util.h"
#include "test_util.h"
#include "train/builtins.h"
#include "train/checkpoint.h"
#include "train/evaluate.h"

namespace fs = std::filesystem;
using dmgn::Config;

namespace {

cv::Mat restore_test_image(int h, int w, int type, double seed) {
  cv::Mat m(h, w, type);
  cv::randu(m, cv::Scalar::all(0), cv::Scalar::all(type == CV_16UC1 ? 65535 : 255));
  if (seed > 0) cv::GaussianBlur(m, m, cv::Size(5, 5), seed);
  return m;
}

}  // namespace

TEST(Restore, FoldersFilesAndGlobsKeepTheirNamesAndBadFilesAreNamed) {
  dmgn::register_builtins();
  const auto dir = dmgn::testing::scratch("restore");
  const Config cfg = Config::defaults(dmgn::testing::tiny_model());
  auto model = dmgn::models::build_model(cfg);
  dmgn::train::CheckpointMeta meta;
  meta.kind = "weights";
  meta.config_text = cfg.canonical();
  const std::string ckpt = (dir / "w.ckpt").string();
  dmgn::train::save_checkpoint(ckpt, meta, dmgn::train::CheckpointParts::weights(model.get()));

  fs::create_directories(dir / "in/sub");
  fs::create_directories(dir / "extra");
  cv::imwrite((dir / "in/a.png").string(), restore_test_image(36, 44, CV_8UC3, 1.0));
  cv::imwrite((dir / "in/sub/grey16.png").string(), restore_test_image(40, 40, CV_16UC1, 1.0));
  cv::imwrite((dir / "in/sub/alpha.png").string(), restore_test_image(32, 48, CV_8UC4, 1.0));
  std::ofstream(dir / "in/sub/bad.png") << "not an image";
  cv::imwrite((dir / "extra/e1.jpg").string(), restore_test_image(33, 35, CV_8UC3, 1.0));
  cv::imwrite((dir / "extra/e2.png").string(), restore_test_image(32, 32, CV_8UC3, 1.0));
  const std::string out = (dir / "out").string();

  // Fatal by default (the config's data.on_bad_sample = "fail"): the file is named, exit 1.
  {
    auto c = dmgn::testing::spawn_dmgn({"restore", ckpt, (dir / "in").string(), "--out", out},
                                       (dir / "fail.log").string());
    EXPECT_EQ(dmgn::testing::wait_child(c, 120), 1);
    EXPECT_NE(dmgn::testing::read_text(c.log).find("sub/bad.png"), std::string::npos) << dmgn::testing::read_text(c.log);
  }
  fs::remove_all(out);
  auto c = dmgn::testing::spawn_dmgn({"restore", ckpt, (dir / "in").string(), (dir / "extra/*.jpg").string(), "--out",
                                      out, "--on-bad-sample", "skip"},
                                     (dir / "skip.log").string());
  ASSERT_EQ(dmgn::testing::wait_child(c, 120), 0) << dmgn::testing::read_text(c.log);
  const std::string log = dmgn::testing::read_text(c.log);
  EXPECT_NE(log.find("skipped '" + (dir / "in/sub/bad.png").string() + "'"), std::string::npos) << log;
  EXPECT_NE(log.find("4 written"), std::string::npos) << log;
  for (const auto& [name, h, w] : std::vector<std::tuple<std::string, int, int>>{
           {"a.png", 36, 44}, {"sub/grey16.png", 40, 40}, {"sub/alpha.png", 32, 48}, {"e1.jpg", 33, 35}}) {
    const cv::Mat img = dmgn::data::read_image(fs::path(out) / name);
    EXPECT_EQ(img.rows, h) << name;
    EXPECT_EQ(img.cols, w) << name;
  }
  // 16-bit files stay 16-bit, 8-bit ones 8-bit (read back raw, not through the loader).
  EXPECT_EQ(cv::imread((fs::path(out) / "sub/grey16.png").string(), cv::IMREAD_UNCHANGED).depth(), CV_16U);
  EXPECT_EQ(cv::imread((fs::path(out) / "a.png").string(), cv::IMREAD_UNCHANGED).depth(), CV_8U);
  EXPECT_FALSE(fs::exists(fs::path(out) / "e2.png"));  // the glob named *.jpg only
  EXPECT_FALSE(fs::exists(fs::path(out) / "sub/bad.png"));

  // The written image is the model's restoration (as evaluation runs it), rounded to 8 bits.
  {
    c10::InferenceMode inference;
    model->eval();
    const auto x = dmgn::data::to_tensor(dmgn::data::read_image(dir / "in/a.png"));
    const dmgn::data::Sample s(x, {}, {}, "a", "reflection");
    const auto want = dmgn::train::run_sample(*model, s, torch::kCPU).image(*model, model->spec().primary)[0];
    const auto got = dmgn::data::to_tensor(dmgn::data::read_image(fs::path(out) / "a.png"));
    EXPECT_LE((got - want).abs().max().item<double>(), 0.5 / 255 + 1e-6);
  }

  // An existing output is refused, naming it; --overwrite replaces; --tile restores in tiles.
  auto again = dmgn::testing::spawn_dmgn({"restore", ckpt, (dir / "in/a.png").string(), "--out", out},
                                         (dir / "again.log").string());
  EXPECT_EQ(dmgn::testing::wait_child(again, 120), 1);
  EXPECT_NE(dmgn::testing::read_text(again.log).find("a.png' exists"), std::string::npos);
  auto tiled = dmgn::testing::spawn_dmgn(
      {"restore", ckpt, (dir / "in/a.png").string(), "--out", out, "--overwrite", "--tile", "16", "--overlap", "8"},
      (dir / "tiled.log").string());
  ASSERT_EQ(dmgn::testing::wait_child(tiled, 120), 0) << dmgn::testing::read_text(tiled.log);
  const cv::Mat t = dmgn::data::read_image(fs::path(out) / "a.png");
  EXPECT_EQ(t.rows, 36);
  EXPECT_EQ(t.cols, 44);
  // Without --out: under the output root, <root>/restored/<checkpoint name>/.
  auto rooted = dmgn::testing::spawn_dmgn({"restore", ckpt, (dir / "in/a.png").string(), "--out-root",
                                           (dir / "root").string()},
                                          (dir / "rooted.log").string());
  ASSERT_EQ(dmgn::testing::wait_child(rooted, 120), 0) << dmgn::testing::read_text(rooted.log);
  EXPECT_TRUE(fs::exists(dir / "root/restored/w/a.png"));
  // A missing input is named before anything runs.
  auto missing = dmgn::testing::spawn_dmgn({"restore", ckpt, (dir / "nope.png").string(), "--out", out},
                                           (dir / "missing.log").string());
  EXPECT_EQ(dmgn::testing::wait_child(missing, 60), 1);
  EXPECT_NE(dmgn::testing::read_text(missing.log).find("nope.png' does not exist"), std::string::npos);
}
