// Data-parallel training on c10d/Gloo and crash safety: 2 ranks x batch 2 equal 1 rank x
// batch 4; a SIGKILLed run resumes to bitwise the same result; a missing or dying rank is an
// error naming it, not a hang; the collective's primitives; bench scaling lands in the store.
#include <gtest/gtest.h>

#include <random>
#include <set>
#include <tuple>

#include "core/config.h"
#include "models/model.h"
#include "process_test.h"
#include "store/run_store.h"
#include "test_util.h"
#include "train/builtins.h"
#include "train/checkpoint.h"
#include "train/distributed.h"
#include "train/launch.h"

namespace {

namespace fs = std::filesystem;
using dmgn::Config;
using dmgn::testing::Child;
using dmgn::testing::read_text;
using dmgn::testing::spawn_dmgn;
using dmgn::testing::wait_child;
using dmgn::testing::with_sets;

const std::string kBase = dmgn::testing::kBaseConfig;

class Distributed : public dmgn::testing::ProcessTest {};

// The final checkpoint of the only run in `store_file`, loaded into a fresh model.
dmgn::models::ModelPtr final_model(const fs::path& store_file) {
  dmgn::store::RunStore store(store_file);
  const auto runs = store.runs();
  EXPECT_EQ(runs.size(), 1u);
  const auto ckpt = dmgn::train::latest_checkpoint(fs::path(runs.at(0).run_dir) / "checkpoints");
  EXPECT_TRUE(ckpt.has_value());
  const Config cfg = Config::from_canonical(dmgn::train::read_checkpoint_meta(*ckpt).config_text);
  auto m = dmgn::models::build_model(cfg);
  dmgn::train::load_checkpoint(*ckpt, dmgn::train::CheckpointParts::weights(m.get()));
  return m;
}

using MetricKey = std::tuple<int64_t, std::string, std::string, std::string>;
std::map<MetricKey, double> metric_map(const fs::path& store_file, bool with_rate = false) {
  dmgn::store::RunStore store(store_file);
  std::map<MetricKey, double> out;
  for (const auto& r : store.runs())
    for (const auto& m : store.metrics(r.id)) {
      if (m.name == "it_per_s" && !with_rate) continue;  // wall-clock: differs between runs
      const MetricKey k{m.step, m.split, m.dataset, m.name};
      EXPECT_EQ(out.count(k), 0u) << "duplicate metric row at step " << m.step << " " << m.name;
      out[k] = m.value;
    }
  return out;
}

TEST_F(Distributed, TwoGlooRanksWithBatchTwoEqualOneRankWithBatchFour) {
  DMGN_REQUIRE_GLOO();
  const auto dir = dmgn::testing::scratch("ddp_equal");
  // No batch statistics: per-sample NDM normalisation, no BatchNorm in the critic, and a
  // deterministic Lipschitz constraint (the gradient penalty draws random numbers per rank).
  auto common = dmgn::testing::tiny_run(dir);
  for (const char* s : {"train.max_steps=5", "model.refine.ndm.normalise=\"sample\"", "discriminator.norm=\"none\"",
                        "loss.adversarial.lipschitz=\"clip\"", "runtime.log_every=1", "data.workers=1",
                        "runtime.bucket_mb=0.01"})  // several buckets even for the tiny model
    common.push_back(s);
  auto two = common, one = common;
  two.push_back("runtime.store=\"" + (dir / "two.sqlite").string() + "\"");
  one.push_back("runtime.store=\"" + (dir / "one.sqlite").string() + "\"");
  one.push_back("train.batch_size=4");
  const Child a = spawn_dmgn(with_sets({"launch", "--nproc", "2", "--", "train", kBase}, two),
                             (dir / "two.log").string());
  ASSERT_EQ(wait_child(a, 300), 0) << read_text(a.log);
  const Child b = spawn_dmgn(with_sets({"train", kBase}, one), (dir / "one.log").string());
  ASSERT_EQ(wait_child(b, 300), 0) << read_text(b.log);

  {
    dmgn::store::RunStore s(dir / "two.sqlite");
    const auto run = s.runs().at(0);
    EXPECT_EQ(run.world_size, 2);
    EXPECT_EQ(run.provenance.at("global_batch"), "4");
    // Both ranks' parameters hashed bitwise equal at every checkpoint.
    EXPECT_EQ(run.provenance.at("ranks_in_sync"), "true");
  }
  auto m2 = final_model(dir / "two.sqlite");
  auto m1 = final_model(dir / "one.sqlite");
  auto p1 = m1->named_parameters();
  double worst = 0;
  bool moved = false;
  torch::manual_seed(0);
  auto init = dmgn::models::build_model(Config::defaults(common));
  auto p0 = init->named_parameters();
  for (const auto& item : m2->named_parameters()) {
    const auto& x = item.value();
    const auto& y = p1[item.key()];
    const double scale = std::max(y.abs().max().item<double>(), 1e-12);
    worst = std::max(worst, (x - y).abs().max().item<double>() / scale);
    moved = moved || !torch::equal(y, p0[item.key()]);
  }
  EXPECT_TRUE(moved) << "training did not change the parameters";
  EXPECT_LE(worst, 1e-5) << "largest difference relative to the tensor's scale";
  std::printf("2 ranks x 2 vs 1 rank x 4 after 5 steps: max relative difference %.3g\n", worst);

  // The final test's per-image scores (the paired reports' input) are kept from both ranks:
  // the same images, in the same order, with the same scores up to the parameters' difference.
  {
    dmgn::store::RunStore s2(dir / "two.sqlite"), s1(dir / "one.sqlite");
    const auto e2 = s2.evaluations(), e1 = s1.evaluations();
    ASSERT_FALSE(e1.empty());
    ASSERT_EQ(e2.size(), e1.size());
    const auto i2 = s2.eval_images(e2.back().id), i1 = s1.eval_images(e1.back().id);
    ASSERT_EQ(i2.size(), i1.size());
    ASSERT_GE(i1.size(), 2u) << "both ranks must have scored images";
    for (size_t k = 0; k < i1.size(); ++k) {
      EXPECT_EQ(i2[k].image, i1[k].image);
      EXPECT_NEAR(i2[k].psnr, i1[k].psnr, 1e-3);
      EXPECT_NEAR(i2[k].ssim, i1[k].ssim, 1e-4);
      EXPECT_DOUBLE_EQ(i2[k].psnr_input, i1[k].psnr_input);
    }
  }

  // The logged losses (averaged over ranks) follow the same curve.
  const auto l2 = metric_map(dir / "two.sqlite"), l1 = metric_map(dir / "one.sqlite");
  for (const auto& [k, v] : l1) {
    if (std::get<1>(k) != "train") continue;
    ASSERT_EQ(l2.count(k), 1u);
    EXPECT_NEAR(l2.at(k), v, 1e-4 * std::max(1.0, std::abs(v))) << std::get<3>(k) << " at " << std::get<0>(k);
  }
}

// SIGKILL at a random step (after the first checkpoint), resume, finish: bitwise the same
// parameters, optimiser-driven trajectory and metrics as the uninterrupted run.
void kill_and_resume(int nproc) {
  const auto dir = dmgn::testing::scratch("ddp_kill" + std::to_string(nproc));
  auto common = dmgn::testing::tiny_run(dir);
  for (const char* s : {"train.max_steps=12", "train.checkpoint_every=2", "train.val_every=4", "runtime.log_every=1",
                        "runtime.progress=true", "data.workers=2", "train.keep_checkpoints=2"})
    common.push_back(s);  // default critic constraint: gradient penalty (random draws each step)
  auto whole = common, broken = common;
  whole.push_back("runtime.store=\"" + (dir / "whole.sqlite").string() + "\"");
  whole.push_back("runtime.out_dir=\"" + (dir / "whole").string() + "\"");
  broken.push_back("runtime.store=\"" + (dir / "broken.sqlite").string() + "\"");
  broken.push_back("runtime.out_dir=\"" + (dir / "broken").string() + "\"");
  std::vector<std::string> head{"train", kBase};
  if (nproc > 1) head = {"launch", "--nproc", std::to_string(nproc), "--", "train", kBase};

  const Child a = spawn_dmgn(with_sets(head, whole), (dir / "whole.log").string());
  ASSERT_EQ(wait_child(a, 300), 0) << read_text(a.log);

  std::random_device rd;
  const int kill_at = 3 + static_cast<int>(rd() % 8);  // steps 3..10 of 12
  std::printf("killing the %d-rank run at step %d\n", nproc, kill_at);
  const Child b = spawn_dmgn(with_sets(head, broken), (dir / "broken.log").string());
  ASSERT_TRUE(dmgn::testing::wait_for_text(b, "step " + std::to_string(kill_at) + "/12", 300)) << read_text(b.log);
  ::kill(-b.pid, SIGKILL);  // the whole process group: launcher and every rank at once
  EXPECT_EQ(wait_child(b, 60), 128 + SIGKILL);
  {
    dmgn::store::RunStore s(dir / "broken.sqlite");
    ASSERT_EQ(s.runs().size(), 1u);
    EXPECT_EQ(s.runs()[0].status, "running");  // killed: nobody could mark it
  }
  auto resumed_args = head;
  resumed_args.push_back("--resume");
  const Child c = spawn_dmgn(with_sets(resumed_args, broken), (dir / "resumed.log").string());
  ASSERT_EQ(wait_child(c, 300), 0) << read_text(c.log);
  const std::string log = read_text(c.log);
  EXPECT_NE(log.find("resuming run 1 from"), std::string::npos) << log;

  dmgn::store::RunStore s(dir / "broken.sqlite");
  ASSERT_EQ(s.runs().size(), 1u);
  const auto run = s.runs()[0];
  EXPECT_EQ(run.status, "completed");
  EXPECT_EQ(run.provenance.count("resumed_at_step"), 1u);

  auto mw = final_model(dir / "whole.sqlite");
  auto mb = final_model(dir / "broken.sqlite");
  auto pb = mb->named_parameters();
  for (const auto& item : mw->named_parameters())
    EXPECT_TRUE(torch::equal(item.value(), pb[item.key()])) << item.key();
  const auto w = metric_map(dir / "whole.sqlite"), k = metric_map(dir / "broken.sqlite");
  EXPECT_EQ(w.size(), k.size());
  for (const auto& [key, v] : w) {
    ASSERT_EQ(k.count(key), 1u) << std::get<3>(key) << " at step " << std::get<0>(key);
    EXPECT_EQ(k.at(key), v) << std::get<3>(key) << " at step " << std::get<0>(key);  // bitwise
  }
}

TEST_F(Distributed, KilledSingleProcessRunResumesBitwise) { kill_and_resume(1); }
TEST_F(Distributed, KilledTwoRankRunResumesBitwise) {
  DMGN_REQUIRE_GLOO();
  kill_and_resume(2);
}

TEST_F(Distributed, MissingOrDyingRankIsAClearErrorNotAHang) {
  DMGN_REQUIRE_GLOO();
  const auto dir = dmgn::testing::scratch("ddp_faults");
  auto cfg = dmgn::testing::tiny_run(dir);
  cfg.push_back("runtime.dist_timeout_s=3");
  const std::string port = std::to_string(dmgn::train::free_tcp_port());
  // Rank 0 of 2 alone: rank 1 never arrives.
  {
    const Child c = spawn_dmgn(with_sets({"train", kBase}, cfg), (dir / "alone0.log").string(),
                               {{"WORLD_SIZE", "2"}, {"RANK", "0"}, {"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", port}});
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(wait_child(c, 60), 1);
    EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 30);
    const auto out = read_text(c.log);
    EXPECT_NE(out.find("rank 1 never arrived"), std::string::npos) << out;
  }
  // Rank 1 of 2 alone: there is no rank 0 to host the store.
  {
    const Child c = spawn_dmgn(with_sets({"train", kBase}, cfg), (dir / "alone1.log").string(),
                               {{"WORLD_SIZE", "2"}, {"RANK", "1"}, {"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", port}});
    EXPECT_EQ(wait_child(c, 60), 1);
    const auto out = read_text(c.log);
    EXPECT_NE(out.find("rank 0 never arrived"), std::string::npos) << out;
  }
  // Two ranks started as torchrun would; rank 1 is killed mid-run: rank 0 exits with an error
  // naming itself and the failed operation, well within the timeout, and the run is "failed".
  {
    auto longer = cfg;
    longer.push_back("train.max_steps=100000");
    longer.push_back("runtime.log_every=1");
    longer.push_back("runtime.progress=true");
    longer.push_back("runtime.dist_timeout_s=20");
    const std::string port2 = std::to_string(dmgn::train::free_tcp_port());
    std::vector<Child> ranks;
    for (int r = 0; r < 2; ++r)
      ranks.push_back(spawn_dmgn(with_sets({"train", kBase}, longer), (dir / fmt::format("rank{}.log", r)).string(),
                                 {{"WORLD_SIZE", "2"}, {"RANK", std::to_string(r)}, {"LOCAL_RANK", std::to_string(r)},
                                  {"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", port2}}));
    ASSERT_TRUE(dmgn::testing::wait_for_text(ranks[0], "step 3/", 120)) << read_text(ranks[0].log);
    ::kill(ranks[1].pid, SIGKILL);
    EXPECT_EQ(wait_child(ranks[1], 30), 128 + SIGKILL);
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(wait_child(ranks[0], 60), 1) << read_text(ranks[0].log);
    EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 20);
    const auto out = read_text(ranks[0].log);
    EXPECT_NE(out.find("[rank 0] rank 0 of 2: gloo"), std::string::npos) << out;
    EXPECT_NE(out.find("failed"), std::string::npos) << out;
    dmgn::store::RunStore s(dir / "runs.sqlite");
    EXPECT_EQ(s.runs().back().status, "failed");
  }
  // The launcher reports the rank that died and stops the survivor.
  {
    auto longer = cfg;
    longer.push_back("train.max_steps=100000");
    longer.push_back("runtime.progress=true");
    longer.push_back("runtime.log_every=1");
    const Child l = spawn_dmgn(with_sets({"launch", "--nproc", "2", "--", "train", kBase}, longer),
                               (dir / "launch.log").string());
    ASSERT_TRUE(dmgn::testing::wait_for_text(l, "step 2/", 120)) << read_text(l.log);
    const auto text = read_text(l.log);
    const auto at = text.find("rank 1 pid ");
    ASSERT_NE(at, std::string::npos) << text;
    const pid_t pid1 = std::stoi(text.substr(at + 11));
    ::kill(pid1, SIGKILL);
    EXPECT_NE(wait_child(l, 60), 0);
    const auto out = read_text(l.log);
    EXPECT_NE(out.find(fmt::format("rank 1 (pid {}) was killed by signal 9", pid1)), std::string::npos) << out;
  }
}

TEST_F(Distributed, NonFiniteLossIsAgreedAcrossRanks) {
  DMGN_REQUIRE_GLOO();
  const auto dir = dmgn::testing::scratch("ddp_nan");
  auto cfg = dmgn::testing::tiny_run(dir);
  // An absurd learning rate overflows the parameters after the first step.
  for (const char* s : {"train.max_steps=4", "optim.lr=1e30", "loss.terms.adv_r.weight=0.0"}) cfg.push_back(s);
  const Child stop = spawn_dmgn(with_sets({"launch", "--nproc", "2", "--", "train", kBase}, cfg),
                                (dir / "stop.log").string());
  EXPECT_EQ(wait_child(stop, 120), 1);
  const auto out = read_text(stop.log);
  // Both ranks stop at the same step with the same message (no rank is left waiting).
  EXPECT_NE(out.find("[rank 0] non-finite loss at step 2 in term '"), std::string::npos) << out;
  EXPECT_NE(out.find("[rank 1] non-finite loss at step 2 in term '"), std::string::npos) << out;
  EXPECT_EQ(out.find("failed: "), std::string::npos) << "a rank hit a collective error instead:\n" << out;
  {
    dmgn::store::RunStore s(dir / "runs.sqlite");
    EXPECT_EQ(s.runs().at(0).status, "failed");
  }
  cfg.push_back("train.nonfinite=\"skip\"");
  cfg.push_back("runtime.store=\"" + (dir / "skip.sqlite").string() + "\"");
  const Child skip = spawn_dmgn(with_sets({"launch", "--nproc", "2", "--", "train", kBase}, cfg),
                                (dir / "skip.log").string());
  EXPECT_EQ(wait_child(skip, 120), 0) << read_text(skip.log);
  dmgn::store::RunStore s(dir / "skip.sqlite");
  const auto run = s.runs().at(0);
  EXPECT_EQ(run.status, "completed");
  EXPECT_EQ(run.provenance.at("skipped_steps"), "3");
  EXPECT_EQ(run.provenance.at("ranks_in_sync"), "true");
  // runtime.host_sync = "log": the flags and loss values are all-reduced as a device tensor and
  // read at the end (log_every is 10), where both ranks learn of the same three steps.
  cfg.push_back("runtime.host_sync=\"log\"");
  cfg.push_back("runtime.store=\"" + (dir / "log.sqlite").string() + "\"");
  const Child log = spawn_dmgn(with_sets({"launch", "--nproc", "2", "--", "train", kBase}, cfg),
                               (dir / "log.log").string());
  EXPECT_EQ(wait_child(log, 120), 0) << read_text(log.log);
  const auto out_log = read_text(log.log);
  EXPECT_NE(out_log.find("non-finite loss in 3 step(s) up to step 4, the first at step 2 in term '"),
            std::string::npos) << out_log;
  dmgn::store::RunStore sl(dir / "log.sqlite");
  const auto run_log = sl.runs().at(0);
  EXPECT_EQ(run_log.status, "completed");
  EXPECT_EQ(run_log.provenance.at("skipped_steps"), "3");
  EXPECT_EQ(run_log.provenance.at("ranks_in_sync"), "true");
}

TEST_F(Distributed, CollectivePrimitivesAndEnvironment) {
  // World size 1: no process group, every operation is the identity.
  auto local = dmgn::train::make_collective(dmgn::train::DistEnv{});
  EXPECT_EQ(local->world_size(), 1);
  EXPECT_EQ(local->backend(), "none");
  std::vector<torch::Tensor> t{torch::ones({3})};
  local->all_reduce_sum(t);
  EXPECT_TRUE(torch::equal(t[0], torch::ones({3})));
  const auto rows = dmgn::train::all_gather_rows(*local, torch::arange(4));
  EXPECT_EQ(rows.sizes(), (std::vector<int64_t>{1, 4}));
  std::string s = "kept";
  dmgn::train::broadcast_string(*local, s);
  EXPECT_EQ(s, "kept");

  // Gradient buckets at world size 1 leave gradients alone; bucket sizes are validated.
  auto p = torch::ones({10}, torch::requires_grad());
  (p * 3).sum().backward();
  dmgn::train::GradientBuckets gb({p}, 16);
  gb.average(*local);
  EXPECT_TRUE(torch::equal(p.grad(), torch::full({10}, 3.0)));
  EXPECT_THROW(dmgn::train::GradientBuckets({p}, 0), dmgn::ConfigError);

  // The torchrun variables: absent = single process; malformed ones are named.
  ::unsetenv("WORLD_SIZE");
  EXPECT_EQ(dmgn::train::dist_env_from_environment().world_size, 1);
  auto err = [](std::map<std::string, std::string> env) {
    for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
    std::string msg;
    try {
      dmgn::train::dist_env_from_environment();
    } catch (const dmgn::ConfigError& e) {
      msg = e.what();
    }
    for (const char* k : {"WORLD_SIZE", "RANK", "MASTER_PORT", "MASTER_ADDR"}) ::unsetenv(k);
    return msg;
  };
  EXPECT_NE(err({{"WORLD_SIZE", "two"}}).find("WORLD_SIZE='two'"), std::string::npos);
  EXPECT_NE(err({{"WORLD_SIZE", "2"}, {"RANK", "2"}, {"MASTER_PORT", "1234"}}).find("RANK=2 is outside"),
            std::string::npos);
  EXPECT_NE(err({{"WORLD_SIZE", "2"}, {"RANK", "1"}}).find("MASTER_PORT is missing"), std::string::npos);
  ::setenv("WORLD_SIZE", "2", 1);
  ::setenv("RANK", "1", 1);
  ::setenv("MASTER_PORT", "29555", 1);
  ::setenv("LOCAL_RANK", "1", 1);
  const auto env = dmgn::train::dist_env_from_environment();
  EXPECT_EQ(env.world_size, 2);
  EXPECT_EQ(env.rank, 1);
  EXPECT_EQ(env.master_port, 29555);
  for (const char* k : {"WORLD_SIZE", "RANK", "MASTER_PORT", "LOCAL_RANK"}) ::unsetenv(k);
}

TEST_F(Distributed, BenchScalingStoresImagesPerSecondAndEfficiency) {
  DMGN_REQUIRE_GLOO();
  const auto dir = dmgn::testing::scratch("bench_scaling");
  auto cfg = dmgn::testing::tiny_run(dir);
  const Child c = spawn_dmgn(with_sets({"bench", "scaling", kBase, "--steps", "2", "--warmup", "1"}, cfg),
                             (dir / "bench.log").string());
  ASSERT_EQ(wait_child(c, 300), 0) << read_text(c.log);
  const auto out = read_text(c.log);
  EXPECT_NE(out.find("efficiency"), std::string::npos) << out;
  dmgn::store::RunStore s(dir / "runs.sqlite");
  const auto rows = s.benches("scaling");
  ASSERT_EQ(rows.size(), 3u);  // images/s at world 1 and 2, efficiency at 2
  std::set<std::string> params;
  for (const auto& r : rows) {
    EXPECT_GT(r.value, 0) << r.name;
    EXPECT_EQ(r.device.rfind("cpu: ", 0), 0u) << r.device;
    EXPECT_FALSE(r.torch_version.empty());
    params.insert(r.name + " " + r.params.substr(0, r.params.find(' ')));
  }
  EXPECT_EQ(params, (std::set<std::string>{"images_per_s world_size=1", "images_per_s world_size=2",
                                           "parallel_efficiency world_size=2"}));
}

}  // namespace
