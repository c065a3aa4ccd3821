// Config: extends/deep merge, --set, type checks, unknown keys, canonical form and hash.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/error.h"
#include "test_util.h"

namespace {

using dmgn::Config;
using dmgn::ConfigError;

void write(const std::filesystem::path& p, const std::string& text) { std::ofstream(p) << text; }

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(Config, ExtendsDeepMergesLaterWinsAndOverridesApply) {
  const auto dir = dmgn::testing::scratch("config_extends");
  write(dir / "a.toml", "[model]\nwidths = [8, 16, 32]\n[model.refine.ndm]\nalpha = 0.3\nq = 0.9\n");
  write(dir / "b.toml", "[model.refine.ndm]\nq = 0.7\n");
  write(dir / "c.toml", "extends = [\"a.toml\", \"b.toml\"]\n[model.refine.ndm]\nalpha = 0.2\n");
  const Config c = Config::load(dir / "c.toml", {"optim.lr=1e-3", "run.name=hello"});
  EXPECT_EQ(c.get_ints("model.widths"), (std::vector<int64_t>{8, 16, 32}));
  EXPECT_DOUBLE_EQ(c.get_float("model.refine.ndm.alpha"), 0.2);  // own layer wins
  EXPECT_DOUBLE_EQ(c.get_float("model.refine.ndm.q"), 0.7);      // later extends wins
  EXPECT_DOUBLE_EQ(c.get_float("optim.lr"), 1e-3);
  EXPECT_EQ(c.get_string("run.name"), "hello");
  EXPECT_EQ(c.get_int("model.bottleneck_cells"), 8);  // untouched default
  EXPECT_EQ(c.sub("model.refine").get_float("ndm.alpha"), 0.2);
  EXPECT_NE(c.source_of("model.refine.ndm.q").find("b.toml:2:1"), std::string::npos);
  EXPECT_EQ(c.source_of("optim.lr"), "--set optim.lr=1e-3");
  EXPECT_EQ(c.source_of("train.epochs"), "defaults");
  // The run is named after its file unless set.
  EXPECT_EQ(Config::load(dir / "c.toml").get_string("run.name"), "c");
}

TEST(Config, RejectsUnknownKeysWithFileAndNearestKey) {
  const auto dir = dmgn::testing::scratch("config_unknown");
  write(dir / "x.toml", "[model]\nwidths = [8, 16, 32]\n\n[model.refine.ndm]\nalpah = 0.5\n");
  const std::string msg = error_of([&] { Config::load(dir / "x.toml"); });
  EXPECT_NE(msg.find("'model.refine.ndm.alpah'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("x.toml:5:1"), std::string::npos) << msg;
  EXPECT_NE(msg.find("did you mean 'model.refine.ndm.alpha'"), std::string::npos) << msg;
  const std::string set_msg = error_of([] { Config::defaults({"train.batchsize=2"}); });
  EXPECT_NE(set_msg.find("did you mean 'train.batch_size'"), std::string::npos) << set_msg;
}

TEST(Config, TypeChecksAndMalformedFiles) {
  EXPECT_NE(error_of([] { Config::defaults({"train.batch_size=2.5"}); }).find("must be an integer"),
            std::string::npos);
  EXPECT_NE(error_of([] { Config::defaults({"model.widths=[1, \"a\"]"}); }).find("element 1 is a string"),
            std::string::npos);
  EXPECT_NE(error_of([] { Config::defaults({"model.refine=3"}); }).find("must be a table"), std::string::npos);
  // Integers promote to floats; strings accept bare words.
  EXPECT_DOUBLE_EQ(Config::defaults({"optim.lr=1"}).get_float("optim.lr"), 1.0);
  EXPECT_EQ(Config::defaults({"run.variant=RDMC"}).get_string("run.variant"), "RDMC");
  // Malformed TOML: file, line and column.
  const auto dir = dmgn::testing::scratch("config_malformed");
  write(dir / "bad.toml", "[run]\nseed = 1\n[model\nwidths = [1]\n");
  const std::string msg = error_of([&] { Config::load(dir / "bad.toml"); });
  EXPECT_NE(msg.find("bad.toml:3:"), std::string::npos) << msg;
  EXPECT_NE(msg.find("malformed TOML"), std::string::npos) << msg;
  EXPECT_NE(error_of([&] { Config::load(dir / "missing.toml"); }).find("missing.toml"), std::string::npos);
  // A getter with the wrong type names the key.
  EXPECT_NE(error_of([] { Config::defaults().get_int("run.name"); }).find("'run.name'"), std::string::npos);
  // extends cycles are reported.
  write(dir / "p.toml", "extends = [\"q.toml\"]\n");
  write(dir / "q.toml", "extends = [\"p.toml\"]\n");
  EXPECT_NE(error_of([&] { Config::load(dir / "p.toml"); }).find("cycle"), std::string::npos);
}

TEST(Config, CanonicalFormRoundTripsAndHashIgnoresRuntime) {
  const Config a = Config::defaults({"optim.lr=0.0001", "model.widths=[8,16,32]"});
  const Config b = Config::from_canonical(a.canonical());
  EXPECT_EQ(a.canonical(), b.canonical());
  EXPECT_EQ(a.hash(), b.hash());
  EXPECT_EQ(a.hash().size(), 64u);
  // Same content written differently: same hash.
  const Config c = Config::from_string("[model]\nwidths = [ 8, 16, 32 ]\n[optim]\nlr = 1e-4\n");
  EXPECT_EQ(a.hash(), c.hash());
  // Runtime keys do not change the identity; anything else does.
  EXPECT_EQ(a.hash(), Config::defaults({"optim.lr=0.0001", "model.widths=[8,16,32]", "runtime.threads=7"}).hash());
  EXPECT_NE(a.hash(), Config::defaults({"optim.lr=0.0001", "model.widths=[8,16,32]", "run.seed=1"}).hash());
  // set() is copy-on-write.
  Config d = a;
  d.set("run.seed=5");
  EXPECT_EQ(a.get_int("run.seed"), 0);
  EXPECT_EQ(d.get_int("run.seed"), 5);
  // Floats keep a decimal point so they re-parse as floats.
  EXPECT_NE(a.canonical().find("weight = 1.0\n"), std::string::npos);
}

TEST(Config, Sha256KnownVectors) {
  EXPECT_EQ(dmgn::sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(dmgn::sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(dmgn::sha256_hex(std::string(1000, 'a')),
            "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3");
}

}  // namespace

// Datasets files (docs/datasets.md): [datasets.<name>] tables declared once; a relative root is
// taken from the file's folder; a config file and --set win over them; they win over a stored
// config (where the data is now); anything else in them is refused naming the file.
TEST(Config, DatasetsFilesLieUnderConfigsAndOverStoredOnes) {
  const auto dir = dmgn::testing::scratch("config_datasets_file");
  write(dir / "datasets.toml", "[datasets.mine]\ntask = \"rain\"\nroot = \"photos/mine\"\n"
                               "[datasets.rain100l]\nroot = \"/elsewhere/Rain100L/test\"\n");
  write(dir / "late.toml", "[datasets.mine]\nonly = [\"1\"]\n");
  struct Reset {
    ~Reset() { Config::set_dataset_files({}); }
  } reset;
  Config::set_dataset_files({dir / "datasets.toml", dir / "late.toml"});

  const Config d = Config::defaults();
  EXPECT_EQ(d.get_string("datasets.mine.root"), (std::filesystem::absolute(dir) / "photos/mine").lexically_normal().string());
  EXPECT_EQ(d.get_string("datasets.mine.task"), "rain");
  EXPECT_EQ(d.get_strings("datasets.mine.only"), std::vector<std::string>{"1"});  // later files win
  EXPECT_EQ(d.get_string("datasets.mine.adapter"), "paired");                      // the template fills the rest
  EXPECT_EQ(d.get_string("datasets.rain100l.root"), "/elsewhere/Rain100L/test");

  write(dir / "run.toml", "[datasets.mine]\nroot = \"/from/the/config\"\n");
  const Config c = Config::load(dir / "run.toml", {"datasets.rain100l.root=\"/from/set\""});
  EXPECT_EQ(c.get_string("datasets.mine.root"), "/from/the/config");
  EXPECT_EQ(c.get_string("datasets.rain100l.root"), "/from/set");
  EXPECT_EQ(c.get_string("datasets.mine.task"), "rain");

  Config::set_dataset_files({});
  const std::string stored = Config::defaults({"datasets.rain100l.root=\"/when/trained\""}).canonical();
  Config::set_dataset_files({dir / "datasets.toml"});
  EXPECT_EQ(Config::from_canonical(stored).get_string("datasets.rain100l.root"), "/elsewhere/Rain100L/test");

  write(dir / "bad.toml", "[datasets.mine]\nroot = \"x\"\n[train]\nmax_steps = 3\n");
  Config::set_dataset_files({dir / "bad.toml"});
  try {
    Config::defaults();
    FAIL() << "a datasets file with a [train] table was accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("bad.toml"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("'train' is not a [datasets.<name>] table"), std::string::npos) << e.what();
  }
}
