// framework/train/execution + core/compat: bf16 autocast, channels-last, inference-mode
// evaluation, a process group of one (the single-GPU NCCL path, exercised with Gloo on the
// CPU) and `bench model`'s peak fractions. The Gpu.* cases run only where CUDA is available
// (tools/gpu_check.sh on the GPU machine) and are skipped elsewhere.
#include <gtest/gtest.h>

#include "core/compat.h"
#include "core/config.h"
#include "core/error.h"
#include "models/model.h"
#include "store/run_store.h"
#include "test_util.h"
#include "train/bench_model.h"
#include "train/builtins.h"
#include "train/distributed.h"
#include "train/execution.h"
#include "train/trainer.h"

namespace {

using dmgn::Config;
namespace compat = dmgn::compat;
namespace train = dmgn::train;

std::vector<std::string> with(std::vector<std::string> v, const std::vector<std::string>& more) {
  v.insert(v.end(), more.begin(), more.end());
  return v;
}

class Builtins : public ::testing::Environment {
 public:
  void SetUp() override { dmgn::register_builtins(); }
};
const auto* const kBuiltins = ::testing::AddGlobalTestEnvironment(new Builtins);

double max_abs(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kCPU, torch::kDouble) - b.to(torch::kCPU, torch::kDouble)).abs().max().item<double>();
}

}  // namespace

TEST(Execution, AutocastGuardRunsConvolutionsInBf16AndRestoresTheState) {
  const auto x = torch::randn({1, 3, 8, 8});
  const auto w = torch::randn({4, 3, 3, 3});
  ASSERT_FALSE(compat::autocast_enabled(torch::kCPU));
  {
    compat::AutocastGuard amp(torch::kCPU, torch::kBFloat16);
    EXPECT_TRUE(compat::autocast_enabled(torch::kCPU));
    EXPECT_EQ(torch::conv2d(x, w).scalar_type(), torch::kBFloat16);
    {
      compat::AutocastGuard off(torch::kCPU, torch::kBFloat16, /*enabled=*/false);  // changes nothing
      EXPECT_TRUE(compat::autocast_enabled(torch::kCPU));
    }
    EXPECT_TRUE(compat::autocast_enabled(torch::kCPU));
  }
  EXPECT_FALSE(compat::autocast_enabled(torch::kCPU));
  EXPECT_EQ(torch::conv2d(x, w).scalar_type(), torch::kFloat);

  // Config: the precision is validated and named; it is part of the config hash.
  EXPECT_NE(dmgn::testing::error_of<dmgn::ConfigError>([&] { Config::defaults({"train.precision=\"fp16\""}); })
                .find("train.precision"),
            std::string::npos);
  EXPECT_NE(Config::defaults({"train.precision=\"bf16\""}).hash(), Config::defaults({}).hash());
  EXPECT_EQ(Config::defaults({"runtime.channels_last=true"}).hash(), Config::defaults({}).hash());
}

TEST(Execution, ChannelsLastMatchesContiguousAndBf16StaysClose) {
  torch::manual_seed(3);
  const auto tiny = dmgn::testing::tiny_model();
  auto model = dmgn::models::build_model(Config::defaults(tiny));
  model->eval();
  const auto x = torch::rand({2, 3, 40, 40}) * 2 - 1;
  torch::Tensor ref;
  {
    c10::InferenceMode inference;
    ref = model->forward(x).at("background").clone();
  }
  const auto cl = train::Execution::from_config(Config::defaults(with(tiny, {"runtime.channels_last=true"})),
                                                torch::kCPU);
  cl.lay_out(*model);
  int64_t four_d = 0, nhwc = 0;
  for (const auto& p : model->parameters())
    if (p.dim() == 4 && p.size(1) > 1 && p.size(2) > 1) {  // 1x1 or depthwise: either order is both
      ++four_d;
      nhwc += p.is_contiguous(torch::MemoryFormat::ChannelsLast) && !p.is_contiguous() ? 1 : 0;
    }
  ASSERT_GT(four_d, 0);
  EXPECT_EQ(nhwc, four_d);
  {
    c10::InferenceMode inference;
    const auto input = cl.place(x);
    EXPECT_TRUE(input.is_contiguous(torch::MemoryFormat::ChannelsLast));
    EXPECT_LT(max_abs(model->forward(input).at("background"), ref), 1e-5);
  }
  const auto bf = train::Execution::from_config(
      Config::defaults(with(tiny, {"train.precision=\"bf16\"", "runtime.channels_last=true"})), torch::kCPU);
  c10::InferenceMode inference;
  torch::Tensor y;
  {
    const auto amp = bf.autocast();
    y = model->forward(bf.place(x)).at("background");
  }
  ASSERT_TRUE(torch::isfinite(y).all().item<bool>());
  const double d = max_abs(y, ref);
  EXPECT_GT(d, 0.0) << "bf16 autocast changed nothing: is it on?";
  EXPECT_LT(d, 0.1) << "bf16 output far from fp32";
}

TEST(Execution, Bf16ChannelsLastTrainingOnAGroupOfOneWithInferenceModeValidation) {
  DMGN_REQUIRE_GLOO();
  const auto dir = dmgn::testing::scratch("exec_train");
  const auto base = with(dmgn::testing::tiny_run(dir), {"train.max_steps=4", "train.val_every=2"});
  // fp32 with no process group vs fp32 on a Gloo group of one (the single-GPU NCCL path's
  // calls): the same numbers, bit for bit.
  const auto none = train::run_training(Config::defaults(base));
  const auto group = train::run_training(Config::defaults(with(base, {"runtime.dist_backend=\"gloo\""})));
  ASSERT_EQ(none.tests.size(), 1u);
  ASSERT_EQ(group.tests.size(), 1u);
  EXPECT_EQ(none.tests[0].psnr, group.tests[0].psnr);
  EXPECT_EQ(none.tests[0].ssim, group.tests[0].ssim);
  // bf16 + channels-last: trains, validates in inference mode between steps, is recorded.
  const auto bf = train::run_training(Config::defaults(
      with(base, {"train.precision=\"bf16\"", "runtime.channels_last=true", "runtime.dist_backend=\"gloo\""})));
  EXPECT_EQ(bf.steps, 4);
  ASSERT_EQ(bf.tests.size(), 1u);
  EXPECT_TRUE(std::isfinite(bf.tests[0].psnr));
  EXPECT_NEAR(bf.tests[0].psnr, none.tests[0].psnr, 1.0);
  dmgn::store::RunStore store(dir / "runs.sqlite");
  const auto run = store.run(bf.run_id);
  ASSERT_TRUE(run.has_value());
  EXPECT_EQ(run->provenance.at("precision"), "bf16");
  EXPECT_EQ(run->provenance.at("channels_last"), "true");
  EXPECT_EQ(run->provenance.at("dist_backend"), "gloo");
  EXPECT_EQ(store.run(none.run_id)->provenance.at("dist_backend"), "none");
  EXPECT_EQ(store.metrics(bf.run_id, "val", "psnr").size(), 2u);  // steps 2 and 4
}

TEST(Execution, BenchModelMeasuresBothPrecisionsAndTheirPeakFractions) {
  auto o = with(dmgn::testing::tiny_model(), {"runtime.threads=1"});
  train::ModelBenchOptions mo;
  mo.sizes = {32};
  mo.precisions = {"fp32", "bf16"};
  mo.repeats = 2;
  mo.warmup = 1;
  mo.fwd_bwd_repeats = 1;
  mo.train_batch = 2;
  mo.train_size = 32;
  const auto r = train::measure_model(Config::defaults(o), mo);
  ASSERT_EQ(r.runs.size(), 2u);
  EXPECT_FALSE(r.device_name.empty());
  for (const auto& pb : r.runs) {
    SCOPED_TRACE(pb.precision);
    EXPECT_GT(pb.gemm_tflops, 0.0);
    ASSERT_EQ(pb.latency.size(), 1u);
    EXPECT_GT(pb.latency[0].macs, 0u);
    EXPECT_GT(pb.latency[0].t.median_ms, 0.0);
    EXPECT_GT(pb.latency[0].fraction_measured, 0.0);
    EXPECT_LT(pb.latency[0].fraction_measured, 2.0);  // a model cannot beat the GEMM ceiling by 2x
    EXPECT_FALSE(pb.latency[0].fraction_datasheet.has_value());  // no datasheet for a CPU
    EXPECT_EQ(pb.fwd_bwd.repeats, 1);
    EXPECT_GT(pb.fwd_bwd.median_ms, 0.0);
    EXPECT_EQ(pb.train_macs, 2 * pb.latency[0].macs);  // batch 2 at the same size
    // The dmgn recipe's one critic, timed on its own (tools/peer_bench_systems.py's pairing).
    ASSERT_EQ(pb.critics.size(), 1u);
    EXPECT_EQ(pb.critics[0].name, "discriminator");
    EXPECT_GT(pb.critics[0].parameters, 0);
    EXPECT_GT(pb.critics[0].fwd_bwd.median_ms, 0.0);
  }
  EXPECT_EQ(r.runs[0].latency[0].macs, r.runs[1].latency[0].macs);
  EXPECT_EQ(train::datasheet_tflops("NVIDIA H100 80GB HBM3", "bf16").value_or(0), 989.4);
  EXPECT_EQ(train::datasheet_tflops("NVIDIA H200", "tf32").value_or(0), 494.7);
  EXPECT_EQ(train::datasheet_tflops("NVIDIA H100 PCIe", "fp32").value_or(0), 51.2);
  EXPECT_FALSE(train::datasheet_tflops("AMD EPYC 7B13", "fp32").has_value());
  mo.precisions = {"fp8"};
  EXPECT_NE(dmgn::testing::error_of<dmgn::ConfigError>([&] { train::measure_model(Config::defaults(o), mo); })
                .find("train.precision"),
            std::string::npos);
  EXPECT_FALSE(r.graphs);  // CUDA graphs: CUDA only
  EXPECT_TRUE(r.failures.empty());

  // A part that fails (here the training step: an absurd learning rate makes the loss
  // non-finite) is recorded with its error; what was measured before and after stays.
  const auto dir = dmgn::testing::scratch("bench_partial");
  auto broken = with(dmgn::testing::tiny_run(dir), {"optim.lr=1e30", "loss.terms.adv_r.weight=0.0"});
  mo.precisions = {"fp32"};
  mo.train_steps = 3;
  mo.train_warmup = 1;
  const auto p = train::measure_model(Config::defaults(broken), mo);
  ASSERT_EQ(p.failures.size(), 1u);
  EXPECT_NE(p.failures[0].find("fp32 training step: non-finite loss at step"), std::string::npos) << p.failures[0];
  EXPECT_NE(p.failures[0].find("; batch: finite; outputs: "), std::string::npos) << p.failures[0];  // the diagnosis
  ASSERT_EQ(p.runs.size(), 1u);
  EXPECT_EQ(p.runs[0].latency.size(), 1u);
  EXPECT_GT(p.runs[0].latency[0].t.median_ms, 0.0);
  EXPECT_EQ(p.runs[0].fwd_bwd.repeats, 1);
  EXPECT_EQ(p.runs[0].train_steps, 0);
}

// --- CUDA (skipped without a GPU) ------------------------------------------------------

TEST(Gpu, CudaForwardMatchesTheCpuInFp32) {
  if (!compat::cuda_available()) GTEST_SKIP() << "no CUDA device";
  torch::manual_seed(5);
  auto model = dmgn::models::build_model(Config::defaults({"model.vestigial=false"}));
  model->eval();
  const auto x = torch::rand({1, 3, 64, 64}) * 2 - 1;
  c10::InferenceMode inference;
  const auto cpu = model->forward(x);
  const bool tf32 = compat::cudnn_allows_tf32();
  compat::set_cudnn_allow_tf32(false);  // plain fp32 for the comparison
  model->to(torch::Device(torch::kCUDA, 0));
  const auto gpu = model->forward(x.to(torch::Device(torch::kCUDA, 0)));
  compat::set_cudnn_allow_tf32(tf32);
  for (const char* key : {"background", "coarse", "noise"})
    EXPECT_LT(max_abs(gpu.at(key).cpu(), cpu.at(key)), 1e-3) << key;
}

TEST(Gpu, NcclGroupOfOneTrainsInBf16ChannelsLast) {
  if (!compat::cuda_available()) GTEST_SKIP() << "no CUDA device";
  const auto dir = dmgn::testing::scratch("gpu_train");
  const auto s = train::run_training(Config::defaults(
      with(dmgn::testing::tiny_run(dir), {"runtime.device=\"cuda\"", "train.max_steps=6", "train.val_every=3",
                                          "train.precision=\"bf16\"", "runtime.channels_last=true"})));
  EXPECT_EQ(s.steps, 6);
  ASSERT_EQ(s.tests.size(), 1u);
  EXPECT_TRUE(std::isfinite(s.tests[0].psnr));
  dmgn::store::RunStore store(dir / "runs.sqlite");
  const auto run = store.run(s.run_id);
  ASSERT_TRUE(run.has_value());
  EXPECT_EQ(run->provenance.at("dist_backend"), compat::has_nccl() ? "nccl" : "none");
  EXPECT_NE(run->provenance.at("device_name"), "cuda");
}
