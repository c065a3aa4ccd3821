#pragma once
// MBN / R-MBN's building blocks (the reference's pietorch/N_modules.py and DuRBs.py, github
// 6272code/6272-code), with the reference's parameter names so its state dicts load by name:
//   MbnConv (ConvLayer)  reflection padding dilation*(k-1)/2, then a conv with bias ("conv2d");
//                        pad "zero": the conv's own zero padding (the SE blocks' convs, no bias).
//   ChannelAttention     x * sigmoid(fc(descriptor)), fc = Linear(d -> hidden), ReLU,
//                        Linear(hidden -> C) ("fc.0", "fc.2"); the descriptor per channel is
//                          gap_tv (SETVLayer): [GAP(x), TV(x)]  (d = 2C)
//                          gap    (SELayer):   GAP(x)          (d = C)
//                          tv     (TVLayer):   TV(x)           (d = C)
//                        with TV(x)_c = mean |x[i+1,j] - x[i,j]|^beta + mean |x[i,j+1] - x[i,j]|^beta
//                        (beta = 3; each mean over its own differences).
//   AttentionBlock       (SE/SETV/TVBasicBlock) relu(x + att(conv3x3(relu(conv3x3(x))))), convs
//                        zero-padded without bias ("conv1", "conv2", "se"); kind "none" (Table 1's
//                        row without TV and GAP) is the plain ResNet block, no attention.
//   DurbM (DuRB_tv)      the dual residual block with SE-TV attention, on x (in_dim at H) and
//                        res (res_dim at 2H):
//                          x_r = x; x = base(x)                                 (SE-TV block)
//                          x = up_conv(pixel_shuffle_2(conv1x1(x -> 4 in_dim))) (k1, dilation d)
//                          x = relu(x + res); res = x
//                          x = merge([relu(down_conv(x)), relu(down_seconv(down_se(x)))])
//                              (3x3 stride 2; k2 stride 2 after a GAP-SE block, hidden 96)
//                          x = relu(x + x_r)                      -> (x, res)
//                        fusion = false (Table 1's rows without "Fusion"): DuRB-U's second
//                        operation alone, x = relu(down_conv(x) + x_r) (no down_se, down_seconv,
//                        merge), as in the dual residual networks the block improves on.
//                        The reference also registers down_se and down_seconv as
//                        "down_atten.0" / ".1" (the same modules twice): they are registered
//                        once here, and an import maps those names onto them.
#include <torch/torch.h>

#include <string>

#include "nn/layers.h"

namespace dmgn::nn {

class MbnConvImpl : public torch::nn::Module {
 public:
  MbnConvImpl(int64_t in, int64_t out, int64_t kernel, int64_t stride = 1, int64_t dilation = 1,
              bool reflect = true, bool bias = true);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  Conv conv_{nullptr};
  int64_t pad_;
  bool reflect_;
};
TORCH_MODULE(MbnConv);

enum class AttentionKind { gap_tv, gap, tv, none };
// "gap_tv" | "gap" | "tv" | "none"; ConfigError naming `key` otherwise.
AttentionKind attention_kind(const std::string& s, const std::string& key);

// Per-channel total variation, N x C: mean |d_y x|^beta + mean |d_x x|^beta.
torch::Tensor channel_tv(const torch::Tensor& x, double beta);

class ChannelAttentionImpl : public torch::nn::Module {
 public:
  ChannelAttentionImpl(int64_t channels, int64_t hidden, AttentionKind kind, double tv_beta = 3.0);
  torch::Tensor forward(const torch::Tensor& x);
  // The attention weights sigmoid(fc(descriptor)), N x C.
  torch::Tensor weights(const torch::Tensor& x);

 private:
  torch::nn::Sequential fc_{nullptr};
  AttentionKind kind_;
  double beta_;
};
TORCH_MODULE(ChannelAttention);

class AttentionBlockImpl : public torch::nn::Module {
 public:
  AttentionBlockImpl(int64_t channels, int64_t hidden, AttentionKind kind, double tv_beta = 3.0);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  MbnConv conv1_{nullptr}, conv2_{nullptr};
  ChannelAttention se_{nullptr};
};
TORCH_MODULE(AttentionBlock);

struct DurbOptions {
  int64_t in_dim = 96, out_dim = 96, res_dim = 64;
  int64_t k1 = 3, k2 = 3, dilation = 1;
  AttentionKind attention = AttentionKind::gap_tv;  // of the base block (Table 1's TV / GAP)
  double tv_beta = 3.0;
  bool fusion = true;  // DuRB-M's fused second operation (Table 1's "Fusion")
};

struct DurbOutput {
  torch::Tensor x, res;
};

class DurbMImpl : public torch::nn::Module {
 public:
  explicit DurbMImpl(const DurbOptions& o);
  DurbOutput forward(const torch::Tensor& x, const torch::Tensor& res);
  const DurbOptions& options() const { return o_; }

 private:
  DurbOptions o_;
  AttentionBlock base_{nullptr}, down_se_{nullptr};
  torch::nn::Sequential upsamp_{nullptr};
  MbnConv up_conv_{nullptr}, down_conv_{nullptr}, down_seconv_{nullptr}, merge_{nullptr};
};
TORCH_MODULE(DurbM);

// The reference's trunk blocks M1..M8 as (k1, k2, dilation).
DurbOptions mbn_trunk_block(int index);

}  // namespace dmgn::nn
