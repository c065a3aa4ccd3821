// Sweeps: the file format and its expansion, and `dmgn sweep` end to end (workers, skip of
// completed runs, resume after a stop, lock-based "running elsewhere", status).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "core/error.h"
#include "core/file_lock.h"
#include "proc_util.h"
#include "store/run_store.h"
#include "sweep/runner.h"
#include "sweep/spec.h"
#include "test_util.h"

namespace fs = std::filesystem;

namespace {

std::string repo(const std::string& rel) { return (fs::path(DMGN_SOURCE_DIR) / rel).string(); }

// The tiny-run overrides as a TOML array for a sweep file's `set`.
std::string tiny_sets(const fs::path& dir, const std::vector<std::string>& more = {}) {
  auto sets = dmgn::testing::tiny_run(dir);
  sets.insert(sets.end(), more.begin(), more.end());
  std::string out = "set = [\n";
  for (const auto& s : sets) out += "  '" + s + "',\n";
  return out + "]\n";
}

fs::path write(const fs::path& file, const std::string& text) {
  std::ofstream(file) << text;
  return file;
}


}  // namespace

TEST(SweepSpec, VariantsTimesGridTimesSeedsWithValidatedConfigs) {
  const fs::path dir = dmgn::testing::scratch("sweep_spec");
  const fs::path f = write(dir / "grid.toml", "[sweep]\nname = \"g\"\nseeds = [3, 4]\n" + tiny_sets(dir) +
                                                  "[[variants]]\nname = \"RDMC\"\nconfig = '" +
                                                  repo("experiments/table1/rdmc.toml") +
                                                  "'\n[[variants]]\nname = \"DMGN\"\nconfig = '" +
                                                  repo("experiments/table1/dmgn.toml") +
                                                  "'\nset = ['train.max_steps=7']\n"
                                                  "[[axes]]\nname = \"alpha_p\"\nkeys = ['loss.terms.p_r.weight', "
                                                  "'loss.terms.p_c.weight']\nscale = [1.0, 0.5]\nvalues = [0, 0.1]\n"
                                                  "[[axes]]\nname = \"alpha_adv\"\nkeys = ['loss.terms.adv_r.weight']\n"
                                                  "values = [0.01, 1]\n");
  const auto spec = dmgn::sweep::load_sweep(f);
  EXPECT_EQ(spec.name, "g");
  const auto runs = dmgn::sweep::expand(spec);
  ASSERT_EQ(runs.size(), 2u * 2 * 2 * 2);
  std::set<std::string> hashes;
  for (const auto& r : runs) hashes.insert(r.hash);
  EXPECT_EQ(hashes.size(), runs.size());
  // Nesting: variants, then grid points (last axis fastest), then seeds.
  EXPECT_EQ(runs[0].variant, "RDMC alpha_p=0 alpha_adv=0.01");
  EXPECT_EQ(runs[0].seed, 3);
  EXPECT_EQ(runs[1].seed, 4);
  EXPECT_EQ(runs[2].variant, "RDMC alpha_p=0 alpha_adv=1");
  EXPECT_EQ(runs[4].variant, "RDMC alpha_p=0.1 alpha_adv=0.01");
  EXPECT_EQ(runs[8].variant, "DMGN alpha_p=0 alpha_adv=0.01");
  const auto cfg = dmgn::sweep::load_run_config(runs[5]);  // RDMC alpha_p=0.1 alpha_adv=0.01 seed 4
  EXPECT_DOUBLE_EQ(cfg.get_float("loss.terms.p_r.weight"), 0.1);
  EXPECT_DOUBLE_EQ(cfg.get_float("loss.terms.p_c.weight"), 0.05);
  EXPECT_DOUBLE_EQ(cfg.get_float("loss.terms.adv_r.weight"), 0.01);
  EXPECT_EQ(cfg.get_int("run.seed"), 4);
  EXPECT_EQ(cfg.get_string("run.sweep"), "g");
  EXPECT_EQ(cfg.get_string("model.cell"), "rdmc");
  EXPECT_EQ(dmgn::sweep::load_run_config(runs[8]).get_int("train.max_steps"), 7);

  // Layers: files merged over each variant's config, through a generated `extends`.
  const fs::path layer = write(dir / "layer.toml", "[train]\nmax_steps = 11\n");
  const auto layered = dmgn::sweep::expand(dmgn::sweep::load_sweep(write(
      dir / "layered.toml", "[sweep]\nlayers = ['layer.toml']\nconfig = '" + repo("experiments/table1/dmgn.toml") +
                                "'\n" + tiny_sets(dir))));
  ASSERT_EQ(layered.size(), 1u);
  EXPECT_EQ(dmgn::sweep::load_run_config(layered[0]).get_int("train.max_steps"), 11);
  EXPECT_EQ(dmgn::sweep::load_run_config(layered[0]).get_string("run.name"), "dmgn");
  EXPECT_NE(layered[0].config_text().find(fs::absolute(layer).lexically_normal().string()), std::string::npos);
}

TEST(SweepSpec, BadFilesAreOneLineErrorsNamingTheFileAndKey) {
  const fs::path dir = dmgn::testing::scratch("sweep_bad");
  const std::string cfg = "config = '" + repo("experiments/table1/dmgn.toml") + "'\n";
  struct Bad {
    std::string name, text, needle;
  };
  const std::vector<Bad> bad = {
      {"unknown.toml", "[sweep]\n" + cfg + "worker = 2\n", "sweep.worker: unknown key"},
      {"noconfig.toml", "[sweep]\nname = \"x\"\n", "sweep.config: missing"},
      {"badset.toml", "[sweep]\n" + cfg + "set = ['train.max_stepz=3']\n", "unknown config key 'train.max_stepz'"},
      {"scale.toml", "[sweep]\n" + cfg + "[[axes]]\nkeys = ['train.max_steps']\nscale = [1, 2]\nvalues = [1]\n",
       "axes[0].scale: has 2 entries for 1 keys"},
      {"same.toml", "[sweep]\n" + cfg + "[[variants]]\n" + cfg + "[[variants]]\n" + cfg, "expand to the same config"},
      {"missing.toml", "[[variants]]\nname = \"A\"\nconfig = 'nope.toml'\n", "does not exist"},
      {"syntax.toml", "[sweep\n", "malformed TOML"},
  };
  for (const auto& b : bad) {
    const fs::path p = write(dir / b.name, b.text);
    std::string msg = dmgn::testing::error_of<dmgn::Error>([&] { dmgn::sweep::expand(dmgn::sweep::load_sweep(p)); });
    EXPECT_NE(msg.find(b.needle), std::string::npos) << b.name << ": " << msg;
    EXPECT_NE(msg.find(p.string()), std::string::npos) << b.name << ": " << msg;
  }
}

TEST(Sweep, RunsWorkersSkipsCompletedResumesStoppedAndRespectsLocks) {
  const fs::path dir = dmgn::testing::scratch("sweep_run");
  const fs::path f = write(
      dir / "s.toml", "[sweep]\nname = \"t\"\nseeds = [0, 1]\n" +
                          tiny_sets(dir, {"train.max_steps=4", "train.checkpoint_every=2"}) +
                          "[[variants]]\nname = \"Coarse\"\nconfig = '" + repo("experiments/table1/coarse.toml") +
                          "'\n[[variants]]\nname = \"DMGN\"\nconfig = '" + repo("experiments/table1/dmgn.toml") + "'\n");
  const auto runs = dmgn::sweep::expand(dmgn::sweep::load_sweep(f));
  ASSERT_EQ(runs.size(), 4u);

  // Another process "runs" #2: it holds its lock, so the sweep leaves it alone.
  const int fd = ::open(dmgn::sweep::lock_file(runs[1]).c_str(), O_RDWR | O_CREAT, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX | LOCK_NB), 0);
  auto c = dmgn::testing::spawn_dmgn({"sweep", f.string(), "--workers", "2"}, (dir / "sweep1.log").string());
  EXPECT_EQ(dmgn::testing::wait_child(c, 300), 0) << dmgn::testing::read_text(c.log);
  std::string out = dmgn::testing::read_text(c.log);
  EXPECT_NE(out.find("4 runs: 0 done, 1 running, 0 failed, 0 interrupted, 3 to do"), std::string::npos) << out;
  EXPECT_NE(out.find("3 completed, 0 failed, 1 running elsewhere"), std::string::npos) << out;
  auto status = dmgn::sweep::sweep_status(runs);
  EXPECT_EQ(dmgn::sweep::count_line(status), "3 done, 1 running, 0 failed, 0 interrupted, 0 to do");
  ::close(fd);
  EXPECT_EQ(dmgn::sweep::count_line(dmgn::sweep::sweep_status(runs)),
            "3 done, 0 running, 0 failed, 0 interrupted, 1 to do");
  {
    dmgn::store::RunStore store(dir / "runs.sqlite");
    const auto rows = store.runs();
    ASSERT_EQ(rows.size(), 3u);
    for (const auto& r : rows) {
      EXPECT_EQ(r.sweep, "t");
      EXPECT_EQ(r.status, "completed");
    }
  }

  // A stopped sweep: SIGTERM reaches the running run, which checkpoints and is 'interrupted'.
  c = dmgn::testing::spawn_dmgn({"sweep", f.string(), "--set", "train.max_steps=400", "--set",
                                 "train.checkpoint_every=1000"},
                                (dir / "sweep2.log").string());
  const auto long_runs = dmgn::sweep::expand(dmgn::sweep::load_sweep(f), {"train.max_steps=400", "train.checkpoint_every=1000"});
  for (int i = 0; i < 600; ++i) {  // until the first run has started training
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (dmgn::file_lock_held(dmgn::sweep::lock_file(long_runs[0])) && fs::exists(dir / "runs.sqlite")) {
      dmgn::store::RunStore store(dir / "runs.sqlite");
      const auto rows = store.runs({"", "", "", long_runs[0].hash, ""});
      if (!rows.empty() && !store.metrics(rows[0].id, "train").empty()) break;
    }
  }
  ::kill(c.pid, SIGTERM);
  EXPECT_EQ(dmgn::testing::wait_child(c, 120), dmgn::kExitInterrupted) << dmgn::testing::read_text(c.log);
  out = dmgn::testing::read_text(c.log);
  EXPECT_NE(out.find("interrupted; continue with: dmgn sweep"), std::string::npos) << out;
  status = dmgn::sweep::sweep_status(long_runs);
  EXPECT_EQ(status[0].state, dmgn::sweep::State::interrupted) << dmgn::sweep::count_line(status);
  ASSERT_TRUE(status[0].row.has_value());
  const int64_t stopped = status[0].row->id;

  // Running the first sweep again: only the one left to do starts; nothing completed reruns.
  c = dmgn::testing::spawn_dmgn({"sweep", f.string()}, (dir / "sweep3.log").string());
  EXPECT_EQ(dmgn::testing::wait_child(c, 300), 0) << dmgn::testing::read_text(c.log);
  out = dmgn::testing::read_text(c.log);
  EXPECT_NE(out.find("3 done before, 1 started, 1 completed"), std::string::npos) << out;
  EXPECT_EQ(dmgn::sweep::count_line(dmgn::sweep::sweep_status(runs)),
            "4 done, 0 running, 0 failed, 0 interrupted, 0 to do");

  // The stopped long sweep resumes its interrupted run from its checkpoint (same run id).
  c = dmgn::testing::spawn_dmgn({"sweep", f.string(), "--dry-run", "--set", "train.max_steps=400", "--set",
                                 "train.checkpoint_every=1000"},
                                (dir / "sweep4.log").string());
  EXPECT_EQ(dmgn::testing::wait_child(c, 60), 0);
  out = dmgn::testing::read_text(c.log);
  EXPECT_NE(out.find("would resume #1 Coarse seed 0"), std::string::npos) << out;
  EXPECT_NE(out.find("would start #2 Coarse seed 1"), std::string::npos) << out;
  {
    dmgn::store::RunStore store(dir / "runs.sqlite");
    EXPECT_EQ(store.run(stopped)->status, "interrupted");
  }

  // sweep status prints every run with its state.
  c = dmgn::testing::spawn_dmgn({"sweep", "status", f.string()}, (dir / "status.log").string());
  EXPECT_EQ(dmgn::testing::wait_child(c, 60), 0);
  out = dmgn::testing::read_text(c.log);
  EXPECT_NE(out.find("4 runs: 4 done, 0 running"), std::string::npos) << out;
  EXPECT_NE(out.find("    1  done"), std::string::npos) << out;
}

TEST(Sweep, AFailingRunIsReportedWithItsLogAndTheOthersStillRun) {
  const fs::path dir = dmgn::testing::scratch("sweep_fail");
  // Variant "Bad" tests on a benchmark whose root does not exist: its worker fails.
  const fs::path f = write(
      dir / "s.toml", "[sweep]\nname = \"f\"\n" + tiny_sets(dir, {"train.max_steps=2"}) + "[[variants]]\nname = \"Bad\"\nconfig = '" +
                          repo("experiments/table1/dmgn.toml") +
                          "'\nset = ['data.test=[\"real20\"]', 'datasets.real20.root=\"" + (dir / "absent").string() +
                          "\"']\n[[variants]]\nname = \"Good\"\nconfig = '" + repo("experiments/table1/dmgn.toml") + "'\n");
  auto c = dmgn::testing::spawn_dmgn({"sweep", f.string(), "--workers", "2"}, (dir / "sweep.log").string());
  EXPECT_EQ(dmgn::testing::wait_child(c, 300), 1) << dmgn::testing::read_text(c.log);
  const std::string out = dmgn::testing::read_text(c.log);
  EXPECT_NE(out.find("FAILED #1 Bad seed 0: exit code 1: dmgn: error:"), std::string::npos) << out;
  EXPECT_NE(out.find("absent"), std::string::npos) << out;  // the child's one-line error names the root
  EXPECT_NE(out.find("done   #2 Good seed 0"), std::string::npos) << out;
  EXPECT_NE(out.find("1 completed, 1 failed"), std::string::npos) << out;
  EXPECT_NE(out.find("  failed: Bad seed 0: exit code 1"), std::string::npos) << out;
  EXPECT_NE(out.find("(log: "), std::string::npos) << out;
}
