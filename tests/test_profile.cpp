// train/profile.h: kinds of kernel names, self times of nested operators, a CPU profile.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <chrono>

#include "train/profile.h"

using namespace dmgn::train;

TEST(Profile, KernelKindsFollowThePeerBenchmarksKeywords) {
  EXPECT_EQ(kernel_kind("sm90_xmma_fprop_implicit_gemm_bf16bf16_bf16f32_f32_nhwckrsc_nhwc"), "convolution");
  EXPECT_EQ(kernel_kind("void cudnn::engines_precompiled::nchwToNhwcKernel<float>"), "convolution");
  EXPECT_EQ(kernel_kind("aten::mkldnn_convolution"), "convolution");
  EXPECT_EQ(kernel_kind("void at::native::reflection_pad2d_out_kernel<float>"), "pad");
  EXPECT_EQ(kernel_kind("aten::replication_pad2d"), "pad");
  EXPECT_EQ(kernel_kind("upsample_bilinear2d_out_frame"), "resize");
  EXPECT_EQ(kernel_kind("CatArrayBatchedCopy_vectorized"), "concat");
  EXPECT_EQ(kernel_kind("aten::pixel_shuffle"), "layout/copy");
  EXPECT_EQ(kernel_kind("void at::native::vectorized_elementwise_kernel<4>"), "elementwise");
  EXPECT_EQ(kernel_kind("aten::tanh"), "other");
}

TEST(Profile, SelfTimesSubtractDirectChildrenPerThread) {
  // Thread 1: a [0, 10] holds b [1, 4] which holds c [2, 3], and d [5, 9]; thread 2: e [0, 10]
  // overlaps a in time but is no child of it.
  const std::vector<TimedEvent> ev{{"a", 1, 0, 10}, {"b", 1, 1, 3}, {"c", 1, 2, 1},
                                   {"d", 1, 5, 4},  {"e", 2, 0, 10}};
  const auto self = self_times(ev);
  EXPECT_DOUBLE_EQ(self[0], 10 - 3 - 4);
  EXPECT_DOUBLE_EQ(self[1], 3 - 1);
  EXPECT_DOUBLE_EQ(self[2], 1);
  EXPECT_DOUBLE_EQ(self[3], 4);
  EXPECT_DOUBLE_EQ(self[4], 10);
}

TEST(Profile, CpuProfileOfAConvolutionNamesItAndCountsEachOperatorOnce) {
  const auto x = torch::randn({1, 8, 64, 64});
  const auto w = torch::randn({8, 8, 3, 3});
  torch::Tensor y;
  const auto t0 = std::chrono::steady_clock::now();
  const auto p = profile_device_time(torch::Device(torch::kCPU), [&] {
    for (int i = 0; i < 3; ++i) y = torch::conv2d(torch::reflection_pad2d(x, {1, 1, 1, 1}), w);
  });
  const double wall_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(p.unit, "CPU operators (self time)");
  ASSERT_FALSE(p.kinds.empty());
  double sum = 0;
  for (const auto& k : p.kinds) sum += k.ms;
  EXPECT_NEAR(sum, p.total_ms, 1e-9);
  const auto conv = std::find_if(p.kinds.begin(), p.kinds.end(), [](const TimeShare& k) { return k.name == "convolution"; });
  const auto pad = std::find_if(p.kinds.begin(), p.kinds.end(), [](const TimeShare& k) { return k.name == "pad"; });
  ASSERT_NE(conv, p.kinds.end());
  ASSERT_NE(pad, p.kinds.end());
  EXPECT_GT(conv->ms, 0.0);
  EXPECT_EQ(pad->count, 3);
  EXPECT_EQ(p.kinds.front().name, "convolution");  // the heaviest
  // Self times of one thread's nested operators add up to no more than the wall time (counting
  // durations, aten::conv2d and the convolution under it would count the work twice).
  EXPECT_LE(p.total_ms, wall_ms);
}
