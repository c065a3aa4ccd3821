// Figures end to end: a tiny trained run -> dmgn visualize / report qualitative, masks, curves
// -> well-formed PNG and PDF files (the scripts' own checks: tests/python/check_figures.py).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "proc_util.h"
#include "test_util.h"

namespace fs = std::filesystem;

namespace {

// PNG signature and IHDR size; PDF header and %%EOF trailer.
void expect_png(const fs::path& f) {
  std::ifstream in(f, std::ios::binary);
  std::string head(24, '\0');
  in.read(head.data(), 24);
  ASSERT_TRUE(in) << f;
  EXPECT_EQ(head.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8)) << f;
  auto be32 = [&](size_t o) {
    return (uint32_t(uint8_t(head[o])) << 24) | (uint32_t(uint8_t(head[o + 1])) << 16) |
           (uint32_t(uint8_t(head[o + 2])) << 8) | uint32_t(uint8_t(head[o + 3]));
  };
  EXPECT_GT(be32(16), 100u) << f;  // width
  EXPECT_GT(be32(20), 100u) << f;  // height
}

void expect_pdf(const fs::path& f) {
  const std::string s = dmgn::testing::read_text(f.string());
  EXPECT_EQ(s.rfind("%PDF-", 0), 0u) << f;
  const auto end = s.find_last_not_of(" \r\n");
  ASSERT_NE(end, std::string::npos);
  EXPECT_EQ(s.substr(end - 4, 5), "%%EOF") << f;
}

}  // namespace

TEST(Figures, QualitativeMasksAndCurvesFromATrainedRun) {
  if (!fs::exists("/usr/bin/python3") || std::system("/usr/bin/python3 -c 'import matplotlib' >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "python3-matplotlib is not installed";
  const fs::path dir = dmgn::testing::scratch("figures");
  std::vector<std::string> args = {"train", "experiments/table1/dmgn.toml"};
  for (const auto& s : dmgn::testing::tiny_run(dir)) args.insert(args.end(), {"--set", s});
  args.insert(args.end(), {"--set", "train.max_steps=3", "--set", "data.builtin.heldout_size=64"});
  auto c = dmgn::testing::spawn_dmgn(args, (dir / "train.log").string());
  ASSERT_EQ(dmgn::testing::wait_child(c, 300), 0) << dmgn::testing::read_text(c.log);
  const std::string store = (dir / "runs.sqlite").string();
  const fs::path out = dir / "figs";

  for (const char* kind : {"qualitative", "masks"}) {
    c = dmgn::testing::spawn_dmgn({"report", kind, "--run", "1", "--store", store, "--out", out.string(), "--count", "2"},
                                  (dir / (std::string(kind) + ".log")).string());
    ASSERT_EQ(dmgn::testing::wait_child(c, 300), 0) << dmgn::testing::read_text(c.log);
  }
  c = dmgn::testing::spawn_dmgn({"report", "curves", "--run", "1", "--store", store, "--out", out.string()},
                                (dir / "curves.log").string());
  ASSERT_EQ(dmgn::testing::wait_child(c, 300), 0) << dmgn::testing::read_text(c.log);

  // The dump: every image and mask the manifest names exists.
  const fs::path dump = out / "dumps" / "run1";
  const std::string manifest = dmgn::testing::read_text((dump / "manifest.json").string());
  for (const char* key : {"\"coarse_masks\": [\"000_mask_coarse_00.png\"", "\"noise\": \"001_noise.png\"",
                          "\"refine_masks\": [\"000_mask_refine_00.png\"", "\"variant\": \"DMGN\""})
    EXPECT_NE(manifest.find(key), std::string::npos) << key << "\n" << manifest;
  for (const char* f : {"000_input.png", "000_coarse.png", "000_background.png", "000_noise.png", "000_target.png",
                        "001_mask_coarse_00.png"})
    EXPECT_TRUE(fs::exists(dump / f)) << f;

  int pngs = 0, pdfs = 0;
  for (const auto& e : fs::directory_iterator(out)) {
    if (e.path().extension() == ".png") {
      expect_png(e.path());
      ++pngs;
    } else if (e.path().extension() == ".pdf") {
      expect_pdf(e.path());
      ++pdfs;
    }
  }
  EXPECT_GE(pngs, 3);  // qualitative, masks, curves
  EXPECT_EQ(pngs, pdfs);
  for (const char* stem : {"curves_run1"}) {
    EXPECT_TRUE(fs::exists(out / (std::string(stem) + ".png"))) << stem;
    EXPECT_TRUE(fs::exists(out / (std::string(stem) + ".pdf"))) << stem;
  }

  // A model without masks ("Base model"): masks is a clear error, not an empty figure.
  args = {"train", "experiments/table1/base_model.toml"};
  for (const auto& s : dmgn::testing::tiny_run(dir)) args.insert(args.end(), {"--set", s});
  args.insert(args.end(), {"--set", "train.max_steps=2", "--set", "data.builtin.heldout_size=64"});
  c = dmgn::testing::spawn_dmgn(args, (dir / "train2.log").string());
  ASSERT_EQ(dmgn::testing::wait_child(c, 300), 0) << dmgn::testing::read_text(c.log);
  c = dmgn::testing::spawn_dmgn({"report", "masks", "--run", "2", "--store", store, "--out", (dir / "f2").string()},
                                (dir / "masks2.log").string());
  EXPECT_EQ(dmgn::testing::wait_child(c, 300), 1);
  EXPECT_NE(dmgn::testing::read_text(c.log).find("none of the selected runs has RDMC masks"), std::string::npos)
      << dmgn::testing::read_text(c.log);
}
