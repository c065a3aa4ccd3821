// runtime.host_sync = "log" (train/recipe.h): the device-side Adam (train/device_adam.h)
// against torch::optim::Adam, its skip and its state round trip, and whole training steps with
// the flags and loss values kept on the device against the same steps read on the host.
#include <gtest/gtest.h>

#include <cmath>

#include "core/config.h"
#include "core/error.h"
#include "data/loader.h"
#include "store/run_store.h"
#include "test_util.h"
#include "train/builtins.h"
#include "train/checkpoint.h"
#include "train/device_adam.h"
#include "train/recipe.h"
#include "train/trainer.h"

namespace {

using dmgn::Config;
namespace tr = dmgn::train;

// Three parameters of different shapes; the third has no gradient on odd steps (a branch the
// update does not reach), so its step count falls behind the others'.
struct Params {
  std::vector<torch::Tensor> p;
  explicit Params(uint64_t seed) {
    torch::manual_seed(seed);
    for (const auto& shape : std::vector<std::vector<int64_t>>{{4, 3, 3, 3}, {7}, {2, 5}})
      p.push_back(torch::randn(shape).set_requires_grad(true));
  }
  void set_grads(int step, bool poison = false) {
    torch::manual_seed(1000 + step);
    for (size_t i = 0; i < p.size(); ++i) {
      if (i == 2 && step % 2 == 1) {
        p[i].mutable_grad() = torch::Tensor();
        continue;
      }
      auto g = torch::randn(p[i].sizes()) * (0.1 + i);
      if (poison) g[0] = std::nan("");
      p[i].mutable_grad() = g;
    }
  }
};

torch::optim::AdamParamState& state(torch::optim::Adam& adam, size_t i) {
  const auto& p = adam.param_groups().front().params()[i];
  auto* st = dynamic_cast<torch::optim::AdamParamState*>(dmgn::compat::optimizer_state(adam, p));
  EXPECT_NE(st, nullptr);
  return *st;
}

void expect_close(const torch::Tensor& a, const torch::Tensor& b, const std::string& what) {
  // Rounding only: the update's operations are the same up to their order.
  EXPECT_TRUE(torch::allclose(a, b, 1e-6, 1e-7)) << what << ": max |diff| "
                                                 << (a - b).abs().max().item<double>();
}

TEST(DeviceAdam, AgreesWithTorchAdamToRounding) {
  Params a(3), b(3);
  const auto opts = torch::optim::AdamOptions(1e-2).betas({0.5, 0.999});
  torch::optim::Adam ref(a.p, opts), dev_opt(b.p, opts);
  tr::DeviceAdam dev(dev_opt);
  const auto no = torch::zeros({}, torch::kBool);
  for (int step = 0; step < 12; ++step) {
    const double lr = 1e-2 * (1.0 - step / 24.0);  // a schedule: the rate changes every step
    static_cast<torch::optim::AdamOptions&>(ref.param_groups().front().options()).lr(lr);
    a.set_grads(step);
    b.set_grads(step);
    ref.step();
    dev.step(torch::full({}, lr, torch::kFloat64), no);
    for (size_t i = 0; i < 3; ++i) expect_close(a.p[i], b.p[i], "param " + std::to_string(i));
  }
  EXPECT_FALSE(dev.fused());  // the CPU: the op-by-op arithmetic
  dev.to_host();
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(state(dev_opt, i).step(), state(ref, i).step()) << i;
    expect_close(state(dev_opt, i).exp_avg(), state(ref, i).exp_avg(), "exp_avg");
    expect_close(state(dev_opt, i).exp_avg_sq(), state(ref, i).exp_avg_sq(), "exp_avg_sq");
  }
  EXPECT_EQ(state(ref, 0).step(), 12);
  EXPECT_EQ(state(ref, 2).step(), 6);  // no gradient on odd steps: no step
}

TEST(DeviceAdam, SkippedStepChangesNothingEvenWithNaNGradients) {
  Params a(5), b(5);
  const auto opts = torch::optim::AdamOptions(1e-2);
  torch::optim::Adam ref(a.p, opts), dev_opt(b.p, opts);
  tr::DeviceAdam dev(dev_opt);
  const auto lr = torch::full({}, 1e-2, torch::kFloat64);
  const auto yes = torch::ones({}, torch::kBool), no = torch::zeros({}, torch::kBool);
  // A skipped first step (no state yet, t = 0), then steps where every other one is skipped:
  // the reference takes only the others.
  b.set_grads(0, /*poison=*/true);
  const auto before = b.p[0].detach().clone();
  dev.step(lr, yes);
  EXPECT_TRUE(torch::equal(b.p[0], before));
  int taken = 0;
  for (int step = 1; step < 9; ++step) {
    const bool skip = step % 2 == 0;
    b.set_grads(step, skip);
    std::vector<torch::Tensor> held;
    for (size_t i = 0; i < 2; ++i)
      for (const auto& t : {b.p[i], state(dev_opt, i).exp_avg(), state(dev_opt, i).exp_avg_sq()})
        held.push_back(t.detach().clone());
    dev.step(lr, skip ? yes : no);
    if (skip) {
      size_t k = 0;
      for (size_t i = 0; i < 2; ++i)
        for (const auto& t : {b.p[i], state(dev_opt, i).exp_avg(), state(dev_opt, i).exp_avg_sq()})
          EXPECT_TRUE(torch::equal(t, held[k++])) << "step " << step << " tensor " << k;
      continue;
    }
    a.set_grads(step);
    ref.step();
    ++taken;
  }
  for (size_t i = 0; i < 3; ++i) expect_close(a.p[i], b.p[i], "param " + std::to_string(i));
  dev.to_host();
  EXPECT_EQ(state(dev_opt, 0).step(), taken);
  EXPECT_EQ(state(dev_opt, 0).step(), state(ref, 0).step());
}

TEST(DeviceAdam, StateSurvivesASaveAndLoad) {
  const auto dir = dmgn::testing::scratch("device_adam_state");
  Params whole(7), half(7);
  const auto opts = torch::optim::AdamOptions(3e-3);
  torch::optim::Adam o1(whole.p, opts), o2(half.p, opts);
  tr::DeviceAdam d1(o1), d2(o2);
  const auto lr = torch::full({}, 3e-3, torch::kFloat64);
  const auto no = torch::zeros({}, torch::kBool);
  for (int step = 0; step < 8; ++step) {
    whole.set_grads(step);
    d1.step(lr, no);
  }
  for (int step = 0; step < 4; ++step) {
    half.set_grads(step);
    d2.step(lr, no);
  }
  d2.to_host();
  torch::serialize::OutputArchive out;
  o2.save(out);
  out.save_to((dir / "adam.pt").string());
  // A fresh optimizer over the same (restored) parameters takes the state and steps on.
  Params resumed(7);
  for (size_t i = 0; i < 3; ++i) resumed.p[i].detach().copy_(half.p[i].detach());
  torch::optim::Adam o3(resumed.p, opts);
  torch::serialize::InputArchive in;
  in.load_from((dir / "adam.pt").string());
  o3.load(in);
  tr::DeviceAdam d3(o3);
  for (int step = 4; step < 8; ++step) {
    resumed.set_grads(step);
    d3.step(lr, no);
  }
  for (size_t i = 0; i < 3; ++i) EXPECT_TRUE(torch::equal(whole.p[i], resumed.p[i])) << i;
  d3.to_host();
  EXPECT_EQ(state(o3, 0).step(), 8);
  EXPECT_EQ(state(o3, 2).step(), 4);
}

class HostSync : public ::testing::Test {
 protected:
  void SetUp() override { dmgn::register_builtins(); }
};

std::vector<double> metric(const std::filesystem::path& store, int64_t run, const char* name) {
  dmgn::store::RunStore s(store);
  std::vector<double> v;
  for (const auto& m : s.metrics(run, "train", name)) v.push_back(m.value);
  return v;
}

// The DMGN recipe (critic and generator) for 6 steps, logged every 3: the same losses at the
// logged steps and the same parameters at the end, to rounding, whether each update waits
// for its values on the host or not.
TEST_F(HostSync, LogModeTrainsAsStepMode) {
  const auto dir = dmgn::testing::scratch("host_sync_same");
  std::vector<tr::TrainSummary> runs;
  for (const char* mode : {"step", "log"}) {
    auto o = dmgn::testing::tiny_run(dir);
    for (const char* s : {"train.max_steps=6", "runtime.log_every=3", "optim.lr=0.001"}) o.push_back(s);
    o.push_back(std::string("runtime.host_sync=\"") + mode + "\"");
    o.push_back("runtime.store=\"" + (dir / mode).string() + ".sqlite\"");
    runs.push_back(tr::run_training(Config::defaults(o)));
  }
  for (const char* name : {"loss", "d_loss"}) {
    const auto a = metric(dir / "step.sqlite", runs[0].run_id, name);
    const auto b = metric(dir / "log.sqlite", runs[1].run_id, name);
    ASSERT_EQ(a.size(), 2u) << name;
    ASSERT_EQ(b.size(), 2u) << name;
    for (size_t i = 0; i < 2; ++i) EXPECT_NEAR(a[i], b[i], 1e-5 * std::abs(a[i])) << name << " " << i;
  }
  std::vector<torch::Tensor> params;
  for (const auto& r : runs) {
    const auto ckpt = tr::latest_checkpoint(r.run_dir / "checkpoints");
    ASSERT_TRUE(ckpt.has_value());
    const Config cfg = Config::from_canonical(tr::read_checkpoint_meta(*ckpt).config_text);
    auto m = dmgn::models::build_model(cfg);
    tr::load_checkpoint(*ckpt, tr::CheckpointParts::weights(m.get()));
    std::vector<torch::Tensor> flat;
    for (const auto& p : m->parameters()) flat.push_back(p.detach().flatten());
    params.push_back(torch::cat(flat));
  }
  EXPECT_TRUE(torch::allclose(params[0], params[1], 1e-4, 1e-6))
      << "max |diff| " << (params[0] - params[1]).abs().max().item<double>();
  EXPECT_FALSE(torch::equal(params[0], torch::zeros_like(params[0])));
}

// A checkpoint written after a settle resumes bit for bit: six steps in one recipe equal three,
// a checkpoint, a fresh recipe that loads it, and three more.
TEST_F(HostSync, LogModeResumesExactly) {
  const auto dir = dmgn::testing::scratch("host_sync_resume");
  auto o = dmgn::testing::tiny_run(dir);
  o.push_back("runtime.host_sync=\"log\"");
  o.push_back("optim.lr=0.001");
  const Config cfg = Config::defaults(o);
  tr::apply_threads(cfg);
  const auto coll = tr::make_collective(tr::DistEnv{}, tr::CollectiveOptions{});
  auto train_set = tr::open_for_model(cfg, cfg.get_string("data.train"), dmgn::data::Split::train);
  dmgn::data::Loader loader(train_set, tr::train_loader_options(cfg, *coll));
  std::vector<dmgn::data::Batch> batches;
  for (int i = 0; i < 6; ++i) batches.push_back(loader.next_rolling());
  auto run = [&](tr::Recipe& r, int from, int to) {
    tr::StepResult last;
    for (int s = from; s < to; ++s) {
      last = r.step(batches[static_cast<size_t>(s)], s);
      EXPECT_TRUE(last.pending);
    }
    r.settle(last);
    EXPECT_FALSE(last.pending);
    EXPECT_TRUE(std::isfinite(last.loss));
    EXPECT_GT(last.other("d_loss"), 0);
    return last;
  };
  torch::manual_seed(0);
  const auto whole = tr::build_recipe({cfg, coll, torch::kCPU, 6});
  EXPECT_TRUE(whole->deferred());
  run(*whole, 0, 6);
  torch::manual_seed(0);
  const auto first = tr::build_recipe({cfg, coll, torch::kCPU, 6});
  run(*first, 0, 3);
  tr::CheckpointMeta meta;
  meta.step = 3;
  meta.config_text = cfg.canonical();
  tr::save_checkpoint(dir / "step3.ckpt", meta, first->parts());
  torch::manual_seed(99);  // another init: the load must set everything
  const auto second = tr::build_recipe({cfg, coll, torch::kCPU, 6});
  tr::load_checkpoint(dir / "step3.ckpt", second->parts());
  second->lay_out();
  run(*second, 3, 6);
  EXPECT_EQ(whole->parameter_hash(), second->parameter_hash());
}

// An absurd rate overflows the parameters after the first update. "stop": the settle at step 3
// names step 2, the first non-finite one, as the host-read mode does at step 2; "skip": the
// same steps are counted as skipped in both modes.
TEST_F(HostSync, NonFiniteStepsAreFoundAtTheSettle) {
  const auto dir = dmgn::testing::scratch("host_sync_nan");
  auto base = dmgn::testing::tiny_run(dir);
  for (const char* s : {"train.max_steps=5", "optim.lr=1e30", "loss.terms.adv_r.weight=0.0", "runtime.log_every=3"})
    base.push_back(s);
  std::map<std::string, std::string> stop_error;
  std::map<std::string, int64_t> skipped;
  for (const char* mode : {"step", "log"}) {
    auto o = base;
    o.push_back(std::string("runtime.host_sync=\"") + mode + "\"");
    o.push_back("runtime.store=\"" + (dir / mode).string() + ".sqlite\"");
    stop_error[mode] = dmgn::testing::error_of<dmgn::Error>([&] { tr::run_training(Config::defaults(o)); });
    o.push_back("train.nonfinite=\"skip\"");
    o.push_back("runtime.store=\"" + (dir / mode).string() + "_skip.sqlite\"");
    skipped[mode] = tr::run_training(Config::defaults(o)).skipped_steps;
  }
  for (const auto& [mode, msg] : stop_error) {
    EXPECT_NE(msg.find("non-finite loss at step 2 in term '"), std::string::npos) << mode << ": " << msg;
  }
  // (The parameters stay finite here: activations overflow, and the gradients then do.)
  EXPECT_NE(stop_error["log"].find("model gradients of the last update: NON-FINITE"), std::string::npos)
      << stop_error["log"];
  EXPECT_EQ(skipped["step"], 4);
  EXPECT_EQ(skipped["log"], skipped["step"]);
}

TEST_F(HostSync, UnknownModeIsRefused) {
  const auto msg = dmgn::testing::error_of<dmgn::ConfigError>(
      [] { Config::defaults({"runtime.host_sync=\"never\""}); });
  EXPECT_NE(msg.find("runtime.host_sync"), std::string::npos) << msg;
}

// --- CUDA (skipped without a GPU) ------------------------------------------------------

// On CUDA with LibTorch >= 2.1 the fused kernel, against torch::optim::Adam there, with a
// skipped step among the others.
TEST(Gpu, DeviceAdamFusedAgreesWithTorchAdam) {
  if (!dmgn::compat::cuda_available()) GTEST_SKIP() << "no CUDA device";
  const torch::Device cuda(torch::kCUDA, 0);
  Params a(11), b(11);
  for (auto* ps : {&a, &b})
    for (auto& t : ps->p) t = t.detach().to(cuda).set_requires_grad(true);
  const auto opts = torch::optim::AdamOptions(1e-2);
  torch::optim::Adam ref(a.p, opts), dev_opt(b.p, opts);
  tr::DeviceAdam dev(dev_opt);
  const auto lr = torch::full({}, 1e-2, torch::TensorOptions().dtype(torch::kFloat64).device(cuda));
  const auto yes = torch::ones({}, torch::TensorOptions().dtype(torch::kBool).device(cuda));
  const auto no = torch::zeros({}, torch::TensorOptions().dtype(torch::kBool).device(cuda));
  for (int step = 0; step < 10; ++step) {
    const bool skip = step == 4;
    b.set_grads(step, skip);
    for (auto& t : b.p)
      if (t.grad().defined()) t.mutable_grad() = t.grad().to(cuda);
    dev.step(lr, skip ? yes : no);
    if (skip) continue;
    a.set_grads(step);
    for (auto& t : a.p)
      if (t.grad().defined()) t.mutable_grad() = t.grad().to(cuda);
    ref.step();
  }
  std::printf("device Adam on CUDA: %s kernel\n", dev.fused() ? "the fused" : "no fused (op-by-op)");
  for (size_t i = 0; i < 3; ++i)
    EXPECT_TRUE(torch::allclose(a.p[i].cpu(), b.p[i].cpu(), 1e-5, 1e-6))
        << i << ": max |diff| " << (a.p[i] - b.p[i]).abs().max().item<double>();
  dev.to_host();
  EXPECT_EQ(state(dev_opt, 0).step(), state(ref, 0).step());
}

// The point of runtime.host_sync = "log": after the first steps (which make the device-side
// state), a DMGN training step (critic, generator, Adam) makes the host wait for nothing, and
// the check catches the waits of host_sync = "step".
TEST(Gpu, LogModeStepsNeverWaitForTheDevice) {
  if (!dmgn::compat::cuda_available()) GTEST_SKIP() << "no CUDA device";
  dmgn::register_builtins();
  ASSERT_TRUE(dmgn::compat::HostSyncCheck::available());
  const auto dir = dmgn::testing::scratch("gpu_host_sync");
  for (const char* mode : {"log", "step"}) {
    auto o = dmgn::testing::tiny_run(dir);
    o.push_back("runtime.device=\"cuda\"");
    o.push_back(std::string("runtime.host_sync=\"") + mode + "\"");
    const Config cfg = Config::defaults(o);
    const auto coll = tr::make_collective(tr::DistEnv{}, tr::CollectiveOptions{});
    auto train_set = tr::open_for_model(cfg, cfg.get_string("data.train"), dmgn::data::Split::train);
    dmgn::data::Loader loader(train_set, tr::train_loader_options(cfg, *coll));
    const auto recipe = tr::build_recipe({cfg, coll, torch::Device(torch::kCUDA, 0), 8});
    auto warm = recipe->step(loader.next_rolling(), 0);
    warm = recipe->step(loader.next_rolling(), 1);
    recipe->settle(warm);
    std::vector<dmgn::data::Batch> batches;
    for (int i = 0; i < 3; ++i) batches.push_back(loader.next_rolling());
    tr::StepResult last;
    std::string error;
    try {
      const dmgn::compat::HostSyncCheck check;
      for (int i = 0; i < 3; ++i) last = recipe->step(batches[static_cast<size_t>(i)], 2 + i);
    } catch (const std::exception& e) {
      error = e.what();
    }
    if (std::string(mode) == "log") {
      EXPECT_EQ(error, "") << "a log-mode step waited for the device";
      recipe->settle(last);
      EXPECT_TRUE(std::isfinite(last.loss));
      EXPECT_GT(last.other("d_loss"), 0);
    } else {
      EXPECT_NE(error, "") << "the check did not catch the host-read mode's waits";
    }
  }
}

}  // namespace
