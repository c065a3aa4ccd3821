// The dmgn command line: listings, and bad input giving one clear line, a non-zero exit and
// no damage to what is already stored.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <fstream>

#include "store/run_store.h"
#include "test_util.h"

namespace {

struct Result {
  int code = -1;
  std::string out;
};

Result run(const std::string& args) {
  const std::string cmd = std::string(DMGN_BINARY) + " " + args + " 2>&1";
  Result r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf{};
  while (size_t n = fread(buf.data(), 1, buf.size(), p)) r.out.append(buf.data(), n);
  const int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

int lines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

std::string sets(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += " --set '" + x + "'";
  return s;
}

TEST(Cli, ListConfigShowAndInfo) {
  auto list = run("list");
  ASSERT_EQ(list.code, 0) << list.out;
  for (const char* want : {"rdmc", "plain", "separator", "aca", "ndm", "encoder_decoder", "dilated_refine",
                           "vgg_hypercolumn", "patchgan", "l1", "perceptual", "adversarial", "dmgn", "builtin"})
    EXPECT_NE(list.out.find(want), std::string::npos) << want;

  const std::string cfg = std::string(DMGN_SOURCE_DIR) + "/experiments/table1/dmgn.toml";
  auto show = run("config show " + cfg + " --set model.refine.ndm.alpha=0.5");
  ASSERT_EQ(show.code, 0) << show.out;
  EXPECT_NE(show.out.find("alpha = 0.5"), std::string::npos);
  EXPECT_NE(show.out.find("# hash "), std::string::npos);
  EXPECT_NE(show.out.find("variant = \"DMGN\""), std::string::npos);

  auto info = run("info " + cfg + " --size 32" + sets(dmgn::testing::tiny_model()));
  ASSERT_EQ(info.code, 0) << info.out;
  EXPECT_NE(info.out.find("parameters"), std::string::npos);
  EXPECT_NE(info.out.find("MACs"), std::string::npos);
}

TEST(Cli, BadInputIsOneClearLineAndLosesNothing) {
  const auto dir = dmgn::testing::scratch("cli_bad");
  const std::string store = (dir / "runs.sqlite").string();
  // Something already stored.
  int64_t kept_id = 0;
  {
    dmgn::store::RunStore s(store);
    dmgn::store::RunInfo info;
    info.name = "kept";
    info.config_hash = "abc";
    kept_id = s.begin_run(info);
    s.log_metric({kept_id, 1, "test", "builtin", "psnr", 21.5, "real20"});
    s.finish_run(kept_id, "completed");
  }
  const std::string base = std::string(DMGN_SOURCE_DIR) + "/experiments/table1/dmgn.toml";
  const std::string common = sets(dmgn::testing::tiny_run(dir)) + " --set train.max_steps=1";

  auto missing = run("train " + (dir / "nope.toml").string());
  EXPECT_NE(missing.code, 0);
  EXPECT_EQ(lines(missing.out), 1) << missing.out;
  EXPECT_NE(missing.out.find("nope.toml"), std::string::npos);

  std::ofstream(dir / "bad.toml") << "[train]\nmax_steps = 1\n[model\n";
  auto malformed = run("train " + (dir / "bad.toml").string());
  EXPECT_NE(malformed.code, 0);
  EXPECT_EQ(lines(malformed.out), 1) << malformed.out;
  EXPECT_NE(malformed.out.find("bad.toml:3:"), std::string::npos) << malformed.out;

  auto unknown = run("train " + base + common + " --set model.cell=rdmcc");
  EXPECT_NE(unknown.code, 0);
  EXPECT_EQ(lines(unknown.out), 1) << unknown.out;
  EXPECT_NE(unknown.out.find("'model.cell' = \"rdmcc\": no cell of that name is registered (known: plain, rdmc)"),
            std::string::npos)
      << unknown.out;

  auto typo = run("train " + base + common + " --set train.batchsize=2");
  EXPECT_NE(typo.code, 0);
  EXPECT_NE(typo.out.find("did you mean 'train.batch_size'"), std::string::npos) << typo.out;

  // A photo that fails to decode.
  const auto photos = dir / "photos";
  std::filesystem::create_directories(photos);
  std::ofstream(photos / "broken.png") << "this is not a png";
  auto undecodable = run("train " + base + common + " --set 'data.builtin.root=\"" + photos.string() +
                         "\"' --set 'data.builtin.photos=[\"broken.png\"]' --set data.builtin.heldout=0");
  EXPECT_NE(undecodable.code, 0);
  EXPECT_EQ(lines(undecodable.out), 1) << undecodable.out;
  EXPECT_NE(undecodable.out.find("broken.png"), std::string::npos) << undecodable.out;

  // A VGG weights file that was asked for but does not exist.
  auto vgg = run("train " + base + common + " --set 'model.head.vgg_weights=\"" + (dir / "vgg19.pth").string() + "\"'");
  EXPECT_NE(vgg.code, 0);
  EXPECT_EQ(lines(vgg.out), 1) << vgg.out;
  EXPECT_NE(vgg.out.find("vgg19.pth"), std::string::npos) << vgg.out;

  // Nothing already stored was lost.
  dmgn::store::RunStore s(store);
  const auto kept = s.run(kept_id);
  ASSERT_TRUE(kept.has_value());
  EXPECT_EQ(kept->status, "completed");
  ASSERT_EQ(s.metrics(kept_id).size(), 1u);
  EXPECT_DOUBLE_EQ(s.metrics(kept_id)[0].value, 21.5);
}

}  // namespace
