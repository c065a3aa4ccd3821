// Physics-GAN training (systems/physics_gan/recipe_physics_gan.cpp): a short run lowers the generator's loss
// and logs every term and both discriminators; BaseGAN builds no D_h; a killed run resumes
// bitwise, the image pools included; the tables read the store.
#include <gtest/gtest.h>

#include <random>

#include "core/config.h"
#include "core/error.h"
#include "systems/physics_gan/physics_gan.h"
#include "nn/discriminators.h"
#include "proc_util.h"
#include "report/render_table.h"
#include "report/tables.h"
#include "process_test.h"
#include "resume_util.h"
#include "store/run_store.h"
#include "test_util.h"
#include "data/loader.h"
#include "train/checkpoint.h"
#include "train/distributed.h"
#include "train/recipe.h"
#include "train/image_pool.h"
#include "train/trainer.h"

namespace fs = std::filesystem;
using dmgn::Config;

namespace {

const std::string kPganTrainDir = std::string(DMGN_SOURCE_DIR) + "/experiments/physics_gan/";

std::vector<std::string> tiny_train(const fs::path& dir) {
  std::vector<std::string> v{"model.ngf=4", "model.blocks=2", "discriminator.ndf=4", "discriminator.layers=2",
                             "data.crop=32", "data.builtin.train_pairs=16", "data.builtin.heldout_pairs=2",
                             "data.builtin.heldout_size=32", "data.workers=0", "train.val_every=0",
                             "train.checkpoint_every=0", "train.batch_size=2", "runtime.threads=1",
                             "runtime.progress=false", "optim.lr=0.002", "optim.d_lr=0.002",
                             "physics_gan.pool_size=4"};
  v.push_back("runtime.store=\"" + (dir / "runs.sqlite").string() + "\"");
  v.push_back("runtime.out_dir=\"" + (dir / "runs").string() + "\"");
  return v;
}

class PhysicsGanTrain : public dmgn::testing::ProcessTest {};

TEST_F(PhysicsGanTrain, TrainingLowersTheLossAndLogsEveryTermAndBothDiscriminators) {
  const auto dir = dmgn::testing::scratch("pgan_train");
  auto o = tiny_train(dir);
  for (const char* s : {"train.max_steps=60", "runtime.log_every=1", "optim.schedule=\"constant\""}) o.push_back(s);
  const Config cfg = Config::load(kPganTrainDir + "deblur.toml", o);
  // The recipe on one fixed batch (fresh crops and kernels every step make a short run's loss
  // too noisy to judge): the objective and each pixel term fall.
  {
    namespace tr = dmgn::train;
    tr::apply_threads(cfg);
    const auto coll = tr::make_collective(tr::DistEnv{}, tr::CollectiveOptions{});
    auto train_set = tr::open_for_model(cfg, cfg.get_string("data.train"), dmgn::data::Split::train);
    dmgn::data::Loader loader(train_set, tr::train_loader_options(cfg, *coll));
    const auto batch = loader.next_rolling();
    const auto recipe = tr::build_recipe({cfg, coll, torch::kCPU, 60});
    std::vector<tr::StepResult> steps;
    for (int s = 0; s < 60; ++s) steps.push_back(recipe->step(batch, s));
    const auto term = [](const tr::StepResult& r, const std::string& name) {
      for (const auto& [n, v] : r.terms)
        if (n == name) return v;
      ADD_FAILURE() << "no term " << name;
      return 0.0;
    };
    EXPECT_LT(steps.back().loss, 0.5 * steps.front().loss) << steps.front().loss << " -> " << steps.back().loss;
    for (const char* t : {"content", "physics", "cycle"})
      EXPECT_LT(term(steps.back(), t), 0.6 * term(steps.front(), t)) << t;
    EXPECT_GT(steps.back().other("d_g_loss"), 0);
    EXPECT_GT(steps.back().other("d_h_loss"), 0);
  }
  // A run through the trainer: every term and both discriminators logged, the run stored.
  const auto summary = dmgn::train::run_training(cfg);
  dmgn::store::RunStore store(dir / "runs.sqlite");
  for (const char* t : {"loss", "adv_g", "adv_h", "content", "physics", "cycle", "d_g_loss", "d_h_loss"})
    EXPECT_EQ(store.metrics(summary.run_id, "train", t).size(), 60u) << t;
  const auto runs = store.runs();
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].status, "completed");
  EXPECT_EQ(runs[0].task, "blur");
}

TEST_F(PhysicsGanTrain, BaseGanTrainsOneDiscriminatorAndRainIsRefused) {
  const auto dir = dmgn::testing::scratch("pgan_base");
  auto o = tiny_train(dir);
  for (const char* s : {"train.max_steps=3", "runtime.log_every=1"}) o.push_back(s);
  const auto summary = dmgn::train::run_training(Config::load(kPganTrainDir + "basegan.toml", o));
  dmgn::store::RunStore store(dir / "runs.sqlite");
  EXPECT_EQ(store.metrics(summary.run_id, "train", "d_g_loss").size(), 3u);
  EXPECT_TRUE(store.metrics(summary.run_id, "train", "d_h_loss").empty());
  EXPECT_TRUE(store.metrics(summary.run_id, "train", "physics").empty());
  // A physics term without an operator, and deraining, are refused before training.
  auto bad = o;
  bad.push_back("loss.terms.physics.weight=10.0");
  const auto e1 = dmgn::testing::error_of<dmgn::ConfigError>(
      [&] { dmgn::train::run_training(Config::load(kPganTrainDir + "basegan.toml", bad)); });
  EXPECT_NE(e1.find("BaseGAN"), std::string::npos) << e1;
  auto rain = o;
  for (const char* s : {"task.name=\"rain\"", "data.builtin.synth=\"rain\""}) rain.push_back(s);
  const auto e2 = dmgn::testing::error_of<dmgn::ConfigError>(
      [&] { dmgn::train::run_training(Config::load(kPganTrainDir + "ours.toml", rain)); });
  EXPECT_NE(e2.find("publishes no physics model"), std::string::npos) << e2;
}

TEST_F(PhysicsGanTrain, AKilledRunResumesBitwiseWithItsImagePools) {
  const auto dir = dmgn::testing::scratch("pgan_kill");
  auto common = tiny_train(dir);
  // 10 steps of 2 images: the pools of 4 are full after 2 steps and then draw from history.
  for (const char* s : {"train.max_steps=10", "train.checkpoint_every=2", "runtime.log_every=1", "runtime.progress=true"})
    common.push_back(s);
  const std::string file = kPganTrainDir + "ours.toml";
  const auto run = dmgn::testing::run_whole_and_killed(dir, {"train", file}, common, 10, 3, 8);
  ASSERT_GT(run.killed_at, 0);
  const auto& whole = run.whole_sets;

  // The whole final checkpoint: G, D_g, D_h and both pools (images and counts), bitwise.
  const Config cfg = Config::load(file, whole);
  struct Parts {
    std::shared_ptr<dmgn::models::Model> g;
    dmgn::nn::DiscriminatorPtr dg, dh;
    dmgn::train::ImagePool pg{nullptr}, ph{nullptr};
  };
  const auto load = [&](const char* store_name) {
    dmgn::store::RunStore s(dir / store_name);
    const auto runs = s.runs();
    EXPECT_EQ(runs.size(), 1u);
    EXPECT_EQ(runs.at(0).status, "completed");
    torch::manual_seed(static_cast<uint64_t>(std::random_device{}()));  // nothing may survive from the init
    Parts p;
    p.g = dmgn::models::build_model(cfg);
    p.dg = dmgn::nn::discriminators().make("patchgan_image", cfg.sub("discriminator"));
    p.dh = dmgn::nn::discriminators().make("patchgan_image", cfg.sub("discriminator"));
    p.pg = dmgn::train::ImagePool(4, std::vector<int64_t>{3, 32, 32});
    p.ph = dmgn::train::ImagePool(4, std::vector<int64_t>{3, 32, 32});
    dmgn::train::CheckpointParts parts;
    parts.modules = {{"model", p.g.get()}, {"d_g", p.dg.get()}, {"d_h", p.dh.get()},
                     {"pool_g", p.pg.ptr().get()}, {"pool_h", p.ph.ptr().get()}};
    dmgn::train::load_checkpoint(*dmgn::train::latest_checkpoint(fs::path(runs.at(0).run_dir) / "checkpoints"), parts);
    return p;
  };
  const Parts pw = load("whole.sqlite"), pb = load("broken.sqlite");
  const auto same = [](const torch::nn::Module& x, const torch::nn::Module& y, const char* what) {
    auto ty = y.named_parameters();
    for (const auto& item : x.named_parameters()) EXPECT_TRUE(torch::equal(item.value(), ty[item.key()])) << what << item.key();
    auto by = y.named_buffers();
    for (const auto& item : x.named_buffers()) EXPECT_TRUE(torch::equal(item.value(), by[item.key()])) << what << item.key();
  };
  same(*pw.g, *pb.g, "G ");
  same(*pw.dg, *pb.dg, "D_g ");
  same(*pw.dh, *pb.dh, "D_h ");
  same(*pw.pg, *pb.pg, "pool_g ");
  same(*pw.ph, *pb.ph, "pool_h ");
  EXPECT_EQ(pw.pg->size(), 4);
  const auto losses_of = [&](const char* store_name) {
    dmgn::store::RunStore s(dir / store_name);
    std::vector<double> v;
    for (const char* name : {"loss", "d_g_loss", "d_h_loss", "physics", "cycle"})
      for (const auto& m : s.metrics(s.runs().at(0).id, "train", name)) v.push_back(m.value);
    return v;
  };
  const auto lw = losses_of("whole.sqlite"), lb = losses_of("broken.sqlite");
  EXPECT_EQ(lw.size(), 50u);
  EXPECT_EQ(lw, lb);
}

int64_t add_run(dmgn::store::RunStore& store, const std::string& file, const std::string& variant,
                const std::string& dataset, double psnr, double psnr_input) {
  const auto cfg = Config::load(kPganTrainDir + file, {"run.variant=\"" + variant + "\""});
  dmgn::store::RunInfo info;
  info.experiment = cfg.get_string("run.experiment");
  info.variant = variant;
  info.config_text = cfg.canonical();
  info.config_hash = cfg.hash();
  const int64_t id = store.begin_run(info);
  store.log_metrics({{id, 100, "test", dataset, "psnr", psnr, "physics_gan"},
                     {id, 100, "test", dataset, "ssim", psnr / 40.0, "physics_gan"},
                     {id, 100, "test", dataset, "psnr_input", psnr_input, "physics_gan"},
                     {id, 100, "test", dataset, "ssim_input", psnr_input / 40.0, "physics_gan"}});
  store.finish_run(id, "completed");
  return id;
}

TEST(PhysicsGanTables, RowsComeFromTheStoreWithTheInputRowFromOursIdentityScores) {
  const fs::path dir = dmgn::testing::scratch("pgan_tables");
  dmgn::store::RunStore store(dir / "runs.sqlite");
  add_run(store, "ours.toml", "Ours", "builtin", 20.0, 15.0);
  add_run(store, "basegan.toml", "BaseGAN", "builtin", 19.0, 15.0);
  add_run(store, "wo_9.toml", "w/o (9)", "builtin", 21.0, 15.0);
  add_run(store, "deblur.toml", "lambda=50", "builtin", 24.0, 22.0);
  add_run(store, "deblur.toml", "ResBlocks=9", "builtin", 23.0, 22.0);
  const auto t8 = dmgn::report::build_report_table(store, "pgan_table8");
  ASSERT_EQ(t8.rows.front().label, "Input");
  ASSERT_EQ(t8.columns.size(), 2u);  // the paper's test set, and ours (no paper numbers)
  EXPECT_EQ(t8.columns[1].id, "builtin");
  EXPECT_DOUBLE_EQ(*t8.rows.front().cells[0][0].paper, 18.52);
  EXPECT_DOUBLE_EQ(*t8.rows.front().cells[1][0].ours, 15.0);  // Ours' identity score
  EXPECT_DOUBLE_EQ(*t8.rows.back().cells[1][0].ours, 20.0);   // Ours
  EXPECT_DOUBLE_EQ(*t8.rows[1].cells[1][0].ours, 19.0);       // BaseGAN
  EXPECT_FALSE(t8.rows[2].cells[1][0].ours.has_value());      // w/o (8): not run
  EXPECT_EQ(t8.spec.orderings.size(), 5u);
  const auto md = dmgn::report::render(t8, dmgn::report::Format::markdown);
  EXPECT_NE(md.find("Physics-GAN paper"), std::string::npos);
  // Table 5 reads the same experiment; Table 9 its own (deblurring) with the sweep's names.
  const auto t5 = dmgn::report::build_report_table(store, "pgan_table5");
  EXPECT_DOUBLE_EQ(*t5.rows.back().cells[1][0].ours, 20.0);
  const auto t9 = dmgn::report::build_report_table(store, "pgan_table9");
  ASSERT_EQ(t9.rows.size(), 20u);
  EXPECT_EQ(t9.rows[4].label, "lambda=50");
  EXPECT_DOUBLE_EQ(*t9.rows[4].cells[0][0].paper, 24.57);
  EXPECT_DOUBLE_EQ(*t9.rows[4].cells[1][0].ours, 24.0);
  EXPECT_DOUBLE_EQ(*t9.rows[12].cells[1][0].ours, 23.0);  // ResBlocks=9
  EXPECT_EQ(t9.rows[12].label, "ResBlocks=9");
}

// `dmgn report sensitivity`: the lambda curve of Table 9 from the store, the paper's numbers on
// the twin axis (reports/figures/sensitivity.py behind the CLI), and a bad key named.
TEST(PhysicsGanTables, SensitivityCurvesComeFromTheStoreThroughTheCli) {
  const fs::path dir = dmgn::testing::scratch("pgan_sens");
  const auto store_file = dir / "runs.sqlite";
  {
    dmgn::store::RunStore store(store_file);
    for (const int lambda : {10, 50, 100}) {
      const auto cfg = Config::load(kPganTrainDir + "deblur.toml", {"run.variant=\"lambda=" + std::to_string(lambda) + "\"",
                                                             "loss.terms.content.weight=" + std::to_string(lambda)});
      dmgn::store::RunInfo info;
      info.experiment = "physics_gan_deblur";
      info.variant = cfg.get_string("run.variant");
      info.config_text = cfg.canonical();
      info.config_hash = cfg.hash();
      const int64_t id = store.begin_run(info);
      store.log_metrics({{id, 100, "test", "builtin", "psnr", 20.0 + lambda / 100.0, "physics_gan"},
                         {id, 100, "test", "builtin", "ssim", 0.6, "physics_gan"}});
      store.finish_run(id, "completed");
    }
  }
  const std::string paper = std::string(DMGN_SOURCE_DIR) + "/framework/systems/physics_gan/paper/pgan_table9.csv";
  const auto out = dir / "fig";
  const auto r = dmgn::testing::dmgn_shell("report sensitivity --store " + store_file.string() + " --out " +
                                           out.string() + " --key loss.terms.content.weight --xlabel lambda" +
                                           " --paper-csv " + paper + " --paper-prefix lambda= --mark 50 --stem lam");
  ASSERT_EQ(r.code, 0) << r.out;
  for (const char* f : {"lam.png", "lam.pdf", "lam.csv"}) EXPECT_TRUE(fs::exists(out / f)) << f << r.out;
  const auto csv = dmgn::testing::read_text((out / "lam.csv").string());
  EXPECT_NE(csv.find("20.5"), std::string::npos) << csv;   // ours at lambda 50
  EXPECT_NE(csv.find("24.57"), std::string::npos) << csv;  // the paper's at lambda 50
  const auto bad = dmgn::testing::dmgn_shell("report sensitivity --store " + store_file.string() + " --out " +
                                             out.string() + " --key model.nope");
  EXPECT_NE(bad.code, 0);
  EXPECT_NE(bad.out.find("model.nope"), std::string::npos) << bad.out;
}

}  // namespace
