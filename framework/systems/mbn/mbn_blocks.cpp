#include "systems/mbn/mbn_blocks.h"

#include <fmt/format.h>

#include "core/error.h"

namespace dmgn::nn {

MbnConvImpl::MbnConvImpl(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t dilation, bool reflect,
                         bool bias)
    : pad_(dilation * (kernel - 1) / 2), reflect_(reflect) {
  conv_ = register_module("conv2d", Conv(ConvOptions(in, out, kernel)
                                             .stride(stride)
                                             .dilation(dilation)
                                             .pad(reflect ? 0 : pad_)
                                             .bias(bias)
                                             .mode(Pad::zero)));
}

torch::Tensor MbnConvImpl::forward(const torch::Tensor& x) {
  if (!reflect_ || pad_ == 0) return conv_->forward(x);
  return conv_->forward(torch::reflection_pad2d(x, {pad_, pad_, pad_, pad_}));
}

AttentionKind attention_kind(const std::string& s, const std::string& key) {
  if (s == "gap_tv") return AttentionKind::gap_tv;
  if (s == "gap") return AttentionKind::gap;
  if (s == "tv") return AttentionKind::tv;
  if (s == "none") return AttentionKind::none;
  throw ConfigError(fmt::format("config key '{}': '{}' is not one of gap_tv, gap, tv, none", key, s));
}

torch::Tensor channel_tv(const torch::Tensor& x, double beta) {
  using torch::indexing::Slice;
  const auto dy = (x.index({Slice(), Slice(), Slice(1), Slice()}) - x.index({Slice(), Slice(), Slice(0, -1), Slice()}))
                      .abs()
                      .pow(beta)
                      .mean({2, 3});
  const auto dx = (x.index({Slice(), Slice(), Slice(), Slice(1)}) - x.index({Slice(), Slice(), Slice(), Slice(0, -1)}))
                      .abs()
                      .pow(beta)
                      .mean({2, 3});
  return dy + dx;
}

ChannelAttentionImpl::ChannelAttentionImpl(int64_t channels, int64_t hidden, AttentionKind kind, double tv_beta)
    : kind_(kind), beta_(tv_beta) {
  const int64_t d = kind == AttentionKind::gap_tv ? 2 * channels : channels;
  fc_ = register_module("fc", torch::nn::Sequential(Linear(d, hidden), torch::nn::ReLU(), Linear(hidden, channels),
                                                     torch::nn::Sigmoid()));
}

torch::Tensor ChannelAttentionImpl::weights(const torch::Tensor& x) {
  torch::Tensor d;
  if (kind_ == AttentionKind::gap) d = x.mean({2, 3});
  else if (kind_ == AttentionKind::tv) d = channel_tv(x, beta_);
  else d = torch::cat({x.mean({2, 3}), channel_tv(x, beta_)}, 1);
  return fc_->forward(d);
}

torch::Tensor ChannelAttentionImpl::forward(const torch::Tensor& x) {
  return x * weights(x).view({x.size(0), x.size(1), 1, 1});
}

AttentionBlockImpl::AttentionBlockImpl(int64_t channels, int64_t hidden, AttentionKind kind, double tv_beta) {
  conv1_ = register_module("conv1", MbnConv(channels, channels, 3, 1, 1, /*reflect=*/false, /*bias=*/false));
  conv2_ = register_module("conv2", MbnConv(channels, channels, 3, 1, 1, false, false));
  if (kind != AttentionKind::none) se_ = register_module("se", ChannelAttention(channels, hidden, kind, tv_beta));
}

torch::Tensor AttentionBlockImpl::forward(const torch::Tensor& x) {
  auto y = conv2_->forward(torch::relu(conv1_->forward(x)));
  if (se_) y = se_->forward(y);
  return torch::relu(x + y);
}

DurbMImpl::DurbMImpl(const DurbOptions& o) : o_(o) {
  // SETVBasicBlock(in, in) with its default reduction 64; SEBasicBlock(res, res) with 96.
  base_ = register_module("base", AttentionBlock(o.in_dim, 64, o.attention, o.tv_beta));
  upsamp_ = torch::nn::Sequential(MbnConv(o.in_dim, 4 * o.in_dim, 1), torch::nn::PixelShuffle(2));
  register_module("upsamp_module", std::make_shared<torch::nn::Module>())->register_module("upsamp", upsamp_);
  up_conv_ = register_module("up_conv", MbnConv(o.in_dim, o.res_dim, o.k1, 1, o.dilation));
  down_conv_ = register_module("down_conv", MbnConv(o.res_dim, o.out_dim, 3, 2));
  if (!o.fusion) return;
  down_se_ = register_module("down_se", AttentionBlock(o.res_dim, 96, AttentionKind::gap));
  down_seconv_ = register_module("down_seconv", MbnConv(o.res_dim, o.out_dim, o.k2, 2));
  merge_ = register_module("merge", MbnConv(2 * o.out_dim, o.out_dim, 3));
}

DurbOutput DurbMImpl::forward(const torch::Tensor& x_in, const torch::Tensor& res_in) {
  auto x = base_->forward(x_in);
  x = up_conv_->forward(upsamp_->forward(x));
  x = torch::relu(x + res_in);
  const auto res = x;
  if (!o_.fusion) return {torch::relu(down_conv_->forward(x) + x_in), res};
  const auto x1 = torch::relu(down_conv_->forward(x));
  const auto x2 = torch::relu(down_seconv_->forward(down_se_->forward(x)));
  x = merge_->forward(torch::cat({x1, x2}, 1));
  return {torch::relu(x + x_in), res};
}

DurbOptions mbn_trunk_block(int index) {
  // EnDNet's M1..M8: (k1, k2, dilation).
  static const int64_t table[8][3] = {{3, 3, 2}, {5, 3, 1}, {3, 5, 2}, {5, 5, 1},
                                      {7, 5, 1}, {7, 5, 2}, {11, 5, 1}, {11, 5, 1}};
  if (index < 1 || index > 8) throw Error(fmt::format("MBN trunk block M{} does not exist (M1..M8)", index));
  DurbOptions o;
  o.k1 = table[index - 1][0];
  o.k2 = table[index - 1][1];
  o.dilation = table[index - 1][2];
  return o;
}

}  // namespace dmgn::nn
