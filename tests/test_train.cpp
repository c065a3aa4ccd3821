// Training end to end on tiny models: the loss goes down, the same seed reproduces the same
// loss sequence bitwise, checkpoints round-trip, and the run lands in the store.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <csignal>
#include <fstream>

#include "core/config.h"
#include "core/error.h"
#include "data/dataset.h"
#include "models/model.h"
#include "store/run_store.h"
#include "test_util.h"
#include "train/builtins.h"
#include "train/checkpoint.h"
#include "losses/terms.h"
#include "train/trainer.h"

namespace {

using dmgn::Config;

std::vector<double> loss_sequence(const std::filesystem::path& store_file, int64_t run_id) {
  dmgn::store::RunStore store(store_file);
  std::vector<double> out;
  for (const auto& m : store.metrics(run_id, "train", "loss")) out.push_back(m.value);
  return out;
}

class Train : public ::testing::Test {
 protected:
  void SetUp() override { dmgn::register_builtins(); }
};

TEST_F(Train, ThirtyStepsLowerTheLossAndTheRunIsStored) {
  const auto dir = dmgn::testing::scratch("train30");
  auto o = dmgn::testing::tiny_run(dir);
  for (const char* s : {"train.max_steps=30", "runtime.log_every=1", "optim.lr=0.001",
                        "loss.terms.adv_r.weight=0.0", "run.experiment=table1", "run.variant=DMGN"})
    o.push_back(s);
  const Config cfg = Config::defaults(o);
  const auto s = dmgn::train::run_training(cfg);
  EXPECT_EQ(s.steps, 30);
  EXPECT_EQ(loss_sequence(dir / "runs.sqlite", s.run_id).size(), 30u);

  // The objective on a fixed batch (the held-out samples): the initial model (the trainer
  // seeds torch with run.seed before building it) vs the trained one from the last checkpoint.
  auto heldout = dmgn::data::datasets().make("builtin", cfg, dmgn::data::Split::heldout);
  std::vector<dmgn::data::Sample> samples;
  for (size_t i = 0; i < heldout->size(); ++i) samples.push_back(heldout->get(i, 0));
  const auto batch = dmgn::data::collate(samples);
  auto loss_of = [&](dmgn::models::Model& m) {
    torch::NoGradGuard g;
    dmgn::losses::TermSet terms(cfg, m);
    const dmgn::losses::NamedTensors mb{{"input", m.to_model(batch.input())},
                                        {"background", m.to_model(batch.background())},
                                        {"noise", m.to_model(batch.noise())}};
    return terms.evaluate("generator", m.forward(mb.at("input")), mb, {}).total.item<double>();
  };
  torch::manual_seed(cfg.get_int("run.seed"));
  auto initial = dmgn::models::build_model(cfg);
  auto trained = dmgn::models::build_model(cfg);
  dmgn::train::load_checkpoint(*dmgn::train::latest_checkpoint(s.run_dir / "checkpoints"),
                               dmgn::train::CheckpointParts::weights(trained.get()));
  const double before = loss_of(*initial), after = loss_of(*trained);
  // Deterministic (seeded CPU run): measured 0.542 -> 0.433.
  EXPECT_LT(after, 0.9 * before) << "before " << before << " after " << after;
  // The store has the run, its provenance and its held-out evaluation.
  dmgn::store::RunStore store(dir / "runs.sqlite");
  const auto run = store.run(s.run_id);
  ASSERT_TRUE(run.has_value());
  EXPECT_EQ(run->status, "completed");
  EXPECT_EQ(run->config_hash, cfg.hash());
  EXPECT_EQ(run->provenance.at("vgg_weights"), "random");
  EXPECT_EQ(run->provenance.at("dataset"), "builtin-synthetic");
  EXPECT_EQ(run->provenance.at("steps"), "30");
  EXPECT_EQ(store.metrics(s.run_id, "test", "psnr").size(), 1u);
  ASSERT_EQ(s.tests.size(), 1u);
  EXPECT_GT(s.tests[0].psnr, 5.0);
  EXPECT_TRUE(std::filesystem::exists(s.run_dir / "checkpoints" / "step_00000030.ckpt"));
  EXPECT_TRUE(std::filesystem::exists(s.run_dir / "config.toml"));
}

TEST_F(Train, SameSeedGivesTheSameLossSequenceAndCheckpointsRoundTrip) {
  std::vector<std::vector<double>> runs;
  std::vector<std::filesystem::path> dirs;
  for (int i = 0; i < 2; ++i) {
    const auto dir = dmgn::testing::scratch("train_seed");
    auto o = dmgn::testing::tiny_run(dir);
    for (const char* s : {"train.max_steps=6", "runtime.log_every=1", "run.seed=7"}) o.push_back(s);
    const auto s = dmgn::train::run_training(Config::defaults(o));
    runs.push_back(loss_sequence(dir / "runs.sqlite", s.run_id));
    dirs.push_back(s.run_dir);
  }
  ASSERT_EQ(runs[0].size(), 6u);
  EXPECT_EQ(runs[0], runs[1]);  // bitwise: same doubles
  // A different seed gives a different sequence.
  const auto dir = dmgn::testing::scratch("train_seed_other");
  auto o = dmgn::testing::tiny_run(dir);
  for (const char* s : {"train.max_steps=6", "runtime.log_every=1", "run.seed=8"}) o.push_back(s);
  const auto other = dmgn::train::run_training(Config::defaults(o));
  EXPECT_NE(loss_sequence(dir / "runs.sqlite", other.run_id), runs[0]);

  // The final checkpoint reloads into a fresh model with identical parameters.
  const auto ckpt = dmgn::train::latest_checkpoint(dirs[0] / "checkpoints");
  ASSERT_TRUE(ckpt.has_value());
  const auto meta = dmgn::train::read_checkpoint_meta(*ckpt);
  EXPECT_EQ(meta.step, 6);
  const Config cfg = Config::from_canonical(meta.config_text);
  torch::manual_seed(123);  // different init: the load must overwrite everything
  auto a = dmgn::models::build_model(cfg);
  dmgn::train::load_checkpoint(*ckpt, dmgn::train::CheckpointParts::weights(a.get()));
  torch::manual_seed(456);
  auto b = dmgn::models::build_model(cfg);
  dmgn::train::load_checkpoint(*ckpt, dmgn::train::CheckpointParts::weights(b.get()));
  auto pa = a->named_parameters(), pb = b->named_parameters();
  for (const auto& item : pa) EXPECT_TRUE(torch::equal(item.value(), pb[item.key()])) << item.key();
}

TEST_F(Train, NonFiniteLossStopsWithStepAndTerm) {
  const auto dir = dmgn::testing::scratch("train_nan");
  auto o = dmgn::testing::tiny_run(dir);
  for (const char* s : {"train.max_steps=3", "optim.lr=1e30", "loss.terms.adv_r.weight=0.0"}) o.push_back(s);
  // An absurd learning rate overflows the parameters after the first step.
  try {
    dmgn::train::run_training(Config::defaults(o));
    FAIL() << "expected a non-finite loss error";
  } catch (const dmgn::Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("non-finite loss at step"), std::string::npos) << msg;
    EXPECT_NE(msg.find("in term '"), std::string::npos) << msg;
  }
  dmgn::store::RunStore store(dir / "runs.sqlite");
  ASSERT_EQ(store.runs().size(), 1u);
  EXPECT_EQ(store.runs()[0].status, "failed");
  // With "skip" the run completes and counts the dropped steps.
  auto o2 = o;
  o2.push_back("train.nonfinite=\"skip\"");
  o2.push_back("runtime.store=\"" + (dir / "skip.sqlite").string() + "\"");
  const auto s = dmgn::train::run_training(Config::defaults(o2));
  EXPECT_GE(s.skipped_steps, 1);
}

TEST_F(Train, UnwritableOrFullCheckpointFolderKeepsThePreviousCheckpoint) {
  torch::set_num_threads(1);
  const auto dir = dmgn::testing::scratch("ckpt_faults");
  const Config cfg = Config::defaults(dmgn::testing::tiny_model());
  torch::manual_seed(1);
  auto model = dmgn::models::build_model(cfg);
  dmgn::train::CheckpointMeta meta;
  meta.step = 2;
  meta.config_text = cfg.canonical();
  const auto ckdir = dir / "checkpoints";
  const auto good = dmgn::train::checkpoint_path(ckdir, 2);
  dmgn::train::save_checkpoint(good, meta, dmgn::train::CheckpointParts::weights(model.get()));
  const auto bytes = std::filesystem::file_size(good);
  auto intact = [&] {
    EXPECT_EQ(std::filesystem::file_size(good), bytes);
    EXPECT_EQ(dmgn::train::read_checkpoint_meta(good).step, 2);
    EXPECT_EQ(*dmgn::train::latest_checkpoint(ckdir), good);  // no partial newer file
    for (const auto& e : std::filesystem::directory_iterator(ckdir))
      EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();
  };

  // Unwritable: a path component is a regular file (root ignores permission bits).
  std::ofstream(dir / "blocker") << "x";
  meta.step = 4;
  try {
    dmgn::train::save_checkpoint(dir / "blocker" / "step_00000004.ckpt", meta, dmgn::train::CheckpointParts::weights(model.get()));
    ADD_FAILURE() << "expected an error";
  } catch (const dmgn::IoError& e) {
    EXPECT_NE(std::string(e.what()).find((dir / "blocker").string()), std::string::npos) << e.what();
  }
  intact();

  // Full: the file-size limit (as a full disk, writes fail with EFBIG; SIGXFSZ is ignored as
  // dmgn's main does). Done in a child process so the limit does not outlive the test.
  const auto next = dmgn::train::checkpoint_path(ckdir, 4);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::signal(SIGXFSZ, SIG_IGN);
    const rlim_t limit = static_cast<rlim_t>(bytes / 2);
    rlimit rl{limit, limit};
    setrlimit(RLIMIT_FSIZE, &rl);
    int code = 3;
    try {
      dmgn::train::save_checkpoint(next, meta, dmgn::train::CheckpointParts::weights(model.get()));
      code = 1;  // should not succeed
    } catch (const dmgn::IoError& e) {
      code = std::string(e.what()).find(next.string()) != std::string::npos ? 0 : 2;
      if (code) fprintf(stderr, "message without the file: %s\n", e.what());
    } catch (...) {
      code = 4;
    }
    _exit(code);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "killed by signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0) << "1: wrote past the limit, 2: message lacks the file, 4: other exception";
  EXPECT_FALSE(std::filesystem::exists(next));
  intact();
  // And the intact checkpoint still loads.
  auto again = dmgn::models::build_model(cfg);
  dmgn::train::load_checkpoint(good, dmgn::train::CheckpointParts::weights(again.get()));
  auto pa = model->named_parameters(), pb = again->named_parameters();
  for (const auto& item : pa) EXPECT_TRUE(torch::equal(item.value(), pb[item.key()])) << item.key();
}

}  // namespace
