// MBN / R-MBN training (systems/mbn/recipe_mbn.cpp on data/multitask.h's task cycles): a short joint
// run lowers every task's loss; the trainer logs per-task losses and scores every task part
// under its convention; a killed run resumes bitwise (model, optimizer, task cycle position);
// R-MBN fine-tunes from an MBN checkpoint with its input branches frozen; the systems table and
// MBN's tables read the store.
#include <gtest/gtest.h>

#include <random>

#include "core/config.h"
#include "core/error.h"
#include "data/multitask.h"
#include "systems/mbn/mbn.h"
#include "process_test.h"
#include "proc_util.h"
#include "report/tables.h"
#include "resume_util.h"
#include "store/run_store.h"
#include "test_util.h"
#include "train/checkpoint.h"
#include "train/distributed.h"
#include "train/recipe.h"
#include "train/systems_eval.h"
#include "train/trainer.h"

namespace fs = std::filesystem;
using dmgn::Config;

namespace {

const std::string kMbnTrainDir = std::string(DMGN_SOURCE_DIR) + "/experiments/mbn/";

// The full network (every branch) on 64 px crops (its smallest input), 2 images per batch.
std::vector<std::string> tiny(const fs::path& dir) {
  std::vector<std::string> v{"data.builtin.train_pairs=6", "data.builtin.heldout_pairs=2",
                             "data.builtin.heldout_size=64", "data.multitask.crops=[64, 64, 64, 64]",
                             "data.augment.short_side=[64, 96]", "data.workers=0", "train.val_every=0",
                             "train.checkpoint_every=0", "train.batch_size=2", "runtime.threads=2",
                             "runtime.progress=false", "optim.lr=0.0005", "model.rain_iterations=2"};
  v.push_back("runtime.store=\"" + (dir / "runs.sqlite").string() + "\"");
  v.push_back("runtime.out_dir=\"" + (dir / "runs").string() + "\"");
  return v;
}

class MbnTrain : public dmgn::testing::ProcessTest {};

TEST_F(MbnTrain, JointTrainingLowersEveryTasksLoss) {
  const auto dir = dmgn::testing::scratch("mbn_joint");
  auto o = tiny(dir);
  o.push_back("optim.schedule=\"constant\"");
  o.push_back("optim.lr=0.001");
  const Config cfg = Config::load(kMbnTrainDir + "base.toml", o);
  namespace tr = dmgn::train;
  tr::apply_threads(cfg);
  const auto coll = tr::make_collective(tr::DistEnv{}, tr::CollectiveOptions{});
  auto train_set = tr::open_for_model(cfg, "multitask", dmgn::data::Split::train);
  const auto stream = dmgn::data::open_stream(train_set, tr::train_loader_options(cfg, *coll));
  // One fixed batch per task (fresh crops every step make a short run's loss too noisy), in
  // turn, as the cycles alternate them.
  std::map<std::string, dmgn::data::Batch> fixed;
  while (fixed.size() < 4) {
    auto b = stream->next_rolling();
    fixed.emplace(b.tasks.at(0), std::move(b));
  }
  const auto recipe = tr::build_recipe({cfg, coll, torch::kCPU, 48});
  std::map<std::string, std::vector<double>> loss;
  int64_t step = 0;
  for (int round = 0; round < 12; ++round)
    for (const auto& [task, batch] : fixed) {
      const auto r = recipe->step(batch, step++);
      loss[task].push_back(r.loss);
      EXPECT_DOUBLE_EQ(r.other("loss_" + task), r.loss);
    }
  // Every task's loss falls: the mean of its last three steps is at least 3% under that of its
  // first three (measured: blur -11%, JPEG -5%, rain -13% at this size).
  for (const auto& [task, v] : loss) {
    std::string trace;
    for (double x : v) trace += " " + std::to_string(x);
    const double first = (v[0] + v[1] + v[2]) / 3, last = (v[v.size() - 1] + v[v.size() - 2] + v[v.size() - 3]) / 3;
    EXPECT_LT(last, 0.97 * first) << task << ":" << trace;
    EXPECT_LT(v.back(), v.front()) << task << ":" << trace;
  }
}

TEST_F(MbnTrain, AKilledRunResumesBitwiseAndEveryPartIsScoredUnderItsConvention) {
  const auto dir = dmgn::testing::scratch("mbn_kill");
  auto common = tiny(dir);
  for (const char* s : {"train.max_steps=8", "train.checkpoint_every=2", "runtime.log_every=1", "runtime.progress=true"})
    common.push_back(s);
  const std::string file = kMbnTrainDir + "base.toml";
  const auto run = dmgn::testing::run_whole_and_killed(dir, {"train", file}, common, 8, 3, 6);
  ASSERT_GT(run.killed_at, 0);
  const Config cfg = Config::load(file, run.whole_sets);
  const auto load = [&](const fs::path& store_file) {
    dmgn::store::RunStore s(store_file);
    const auto runs = s.runs();
    EXPECT_EQ(runs.size(), 1u);
    EXPECT_EQ(runs.at(0).status, "completed");
    torch::manual_seed(static_cast<uint64_t>(std::random_device{}()));
    auto m = dmgn::models::build_model(cfg);
    dmgn::train::load_checkpoint(*dmgn::train::latest_checkpoint(fs::path(runs.at(0).run_dir) / "checkpoints"),
                                 dmgn::train::CheckpointParts::weights(m.get()));
    return m;
  };
  const auto mw = load(run.whole_store), mb = load(run.broken_store);
  auto pb = mb->named_parameters();
  for (const auto& item : mw->named_parameters()) EXPECT_TRUE(torch::equal(item.value(), pb[item.key()])) << item.key();
  const auto series = [&](const fs::path& store_file) {
    dmgn::store::RunStore s(store_file);
    std::vector<double> v;
    for (const char* name : {"loss", "loss_blur", "loss_haze", "loss_rain", "loss_jpeg", "ssim", "l1"})
      for (const auto& m : s.metrics(s.runs().at(0).id, "train", name)) v.push_back(m.value);
    return v;
  };
  const auto lw = series(run.whole_store), lb = series(run.broken_store);
  EXPECT_EQ(lw.size(), 8u * 4);  // loss, ssim, l1 every step; loss_<task> once per step
  EXPECT_EQ(lw, lb);
  // Every task part tested and stored under its convention: Y for blur / rain / JPEG, RGB haze.
  dmgn::store::RunStore s(run.whole_store);
  const auto id = s.runs().at(0).id;
  for (const auto& [part, preset] : std::vector<std::pair<std::string, std::string>>{
           {"multitask/blur", "mbn"}, {"multitask/rain", "mbn"}, {"multitask/jpeg", "mbn"}, {"multitask/haze", "mbn_rgb"}}) {
    const auto rows = s.metrics(id, "test", "psnr");
    bool found = false;
    for (const auto& r : rows)
      if (r.dataset == part) {
        found = true;
        EXPECT_EQ(r.preset, preset) << part;
      }
    EXPECT_TRUE(found) << part;
  }
  // The systems table finds MBN's four tasks (already under each task's convention for JPEG;
  // re-scored from the checkpoint for the others) and says why MBN cannot run reflection.
  dmgn::train::SystemsOptions so;
  const auto t = dmgn::train::systems_table(s, so);
  for (const char* task : {"rain", "haze", "blur", "jpeg"}) {
    const auto& c = t.cells.at({"MBN", task});
    ASSERT_TRUE(c.eval.has_value()) << task << " " << c.why;
    EXPECT_EQ(c.eval->preset, t.convention.at(task)) << task;
  }
  EXPECT_TRUE(t.cells.at({"MBN", "blur"}).rescored);
  EXPECT_FALSE(t.cells.at({"MBN", "jpeg"}).rescored);
  EXPECT_NE(t.cells.at({"MBN", "reflection"}).why.find("cannot run"), std::string::npos);
  EXPECT_EQ(t.cells.at({"DMGN", "rain"}).why, "no run");
  const auto again = dmgn::train::systems_table(s, so);  // re-scorings are stored and reused
  EXPECT_EQ(again.computed, 0);
  EXPECT_GE(again.reused, 3);

  // R-MBN from that checkpoint: input branches frozen, the rest trained; 0.8 / 0.2 terms logged.
  const auto ckpt = *dmgn::train::latest_checkpoint(fs::path(s.runs().at(0).run_dir) / "checkpoints");
  auto ro = tiny(dir / "rmbn");
  for (const char* x : {"train.max_steps=2", "optim.lr=0.001", "runtime.log_every=1"}) ro.push_back(x);
  ro.push_back("mbn.init_from=\"" + ckpt.string() + "\"");
  const Config rcfg = Config::load(kMbnTrainDir + "rmbn.toml", ro);
  const auto summary = dmgn::train::run_training(rcfg);
  dmgn::store::RunStore rs(dir / "rmbn" / "runs.sqlite");
  EXPECT_EQ(rs.metrics(summary.run_id, "train", "stage_ssim").size(), 2u);
  EXPECT_EQ(rs.metrics(summary.run_id, "train", "final_l1").size(), 2u);
  auto tuned = dmgn::models::build_model(rcfg);
  dmgn::train::load_checkpoint(*dmgn::train::latest_checkpoint(summary.run_dir / "checkpoints"),
                               dmgn::train::CheckpointParts::weights(tuned.get()));
  auto start = mw->named_parameters();
  int frozen = 0, moved = 0;
  for (const auto& item : tuned->named_parameters()) {
    const bool input_branch = item.key().find("_head.") != std::string::npos;
    const bool same = torch::equal(item.value(), start[item.key()]);
    if (input_branch) {
      EXPECT_TRUE(same) << item.key();
      ++frozen;
    } else if (!same) {
      ++moved;
    }
  }
  EXPECT_GT(frozen, 0);
  EXPECT_GT(moved, 100);
  dmgn::train::SystemsOptions all;
  EXPECT_TRUE(dmgn::train::systems_table(rs, all).cells.at({"R-MBN", "blur"}).eval.has_value());
}

TEST(MbnTables, RowsComeFromTheStore) {
  const fs::path dir = dmgn::testing::scratch("mbn_tables");
  dmgn::store::RunStore store(dir / "runs.sqlite");
  const auto add = [&](const std::string& experiment, const std::string& variant,
                       const std::vector<std::pair<std::string, double>>& psnr) {
    const auto cfg = Config::load(kMbnTrainDir + "base.toml", {"run.variant=\"" + variant + "\"",
                                                        "run.experiment=\"" + experiment + "\""});
    dmgn::store::RunInfo info;
    info.experiment = experiment;
    info.variant = variant;
    info.config_text = cfg.canonical();
    info.config_hash = cfg.hash();
    const int64_t id = store.begin_run(info);
    for (const auto& [ds, p] : psnr)
      store.log_metrics({{id, 10, "test", ds, "psnr", p, "mbn"}, {id, 10, "test", ds, "ssim", p / 40, "mbn"},
                         {id, 10, "test", ds, "psnr_input", 20, "mbn"}, {id, 10, "test", ds, "ssim_input", 0.5, "mbn"}});
    store.finish_run(id, "completed");
  };
  const std::vector<std::pair<std::string, double>> four = {
      {"multitask/blur", 25}, {"multitask/haze", 27}, {"multitask/rain", 29}, {"multitask/jpeg", 31}};
  add("mbn", "MBN", four);
  add("mbn_table2", "J->H->B->R", four);
  add("mbn_table1", "TV", four);
  const auto t3 = dmgn::report::build_report_table(store, "mbn_table3");
  ASSERT_EQ(t3.rows.front().label, "Input");
  EXPECT_EQ(t3.columns[0].id, "multitask/blur");
  const auto mbn_row = std::find_if(t3.rows.begin(), t3.rows.end(), [](const auto& r) { return r.label == "MBN"; });
  ASSERT_NE(mbn_row, t3.rows.end());
  EXPECT_DOUBLE_EQ(*mbn_row->cells[0][0].ours, 25.0);
  EXPECT_DOUBLE_EQ(*mbn_row->cells[0][0].paper, 30.70);
  EXPECT_DOUBLE_EQ(*t3.rows.front().cells[1][0].ours, 20.0);  // MBN's identity score
  // Table 2: the four-factor orders are scored by the mean of the four parts.
  const auto t2 = dmgn::report::build_report_table(store, "mbn_table2");
  const auto jhbr = std::find_if(t2.rows.begin(), t2.rows.end(), [](const auto& r) { return r.label == "J->H->B->R"; });
  ASSERT_NE(jhbr, t2.rows.end());
  bool averaged = false;
  for (size_t c = 0; c < t2.columns.size(); ++c)
    if (t2.columns[c].id == "mbn_average_bhrj") {
      EXPECT_DOUBLE_EQ(*jhbr->cells[c][0].ours, 28.0);
      averaged = true;
    }
  EXPECT_TRUE(averaged);
  const auto t1 = dmgn::report::build_report_table(store, "mbn_table1");
  EXPECT_EQ(t1.rows.size(), 5u);
}

}  // namespace
