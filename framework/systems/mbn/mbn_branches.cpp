#include "systems/mbn/mbn_branches.h"

#include <fmt/format.h>

#include "core/error.h"

namespace dmgn::nn {
namespace {

// The reference's UpSampleModule(dim, PixShuf, ps_scale): child "upsamp" = [1x1 conv dim ->
// ps_scale*dim, PixelShuffle(2)], registered as `name`.
torch::nn::Sequential add_upsample(torch::nn::Module& parent, const std::string& name, int64_t dim, int64_t ps_scale) {
  auto seq = torch::nn::Sequential(MbnConv(dim, ps_scale * dim, 1), torch::nn::PixelShuffle(2));
  parent.register_module(name, std::make_shared<torch::nn::Module>())->register_module("upsamp", seq);
  return seq;
}

// A Sequential(conv, activation) registered as `name` (the reference's ConvLSTM gates).
MbnConv add_gate(torch::nn::Module& parent, const std::string& name, int64_t in, int64_t out) {
  MbnConv conv(in, out, 3);
  parent.register_module(name, std::make_shared<torch::nn::Module>())->register_module("0", conv);
  return conv;
}

int idx(Scale s) { return static_cast<int>(s); }

}  // namespace

torch::Tensor reference_pixel_unshuffle(const torch::Tensor& x, int64_t r) {
  const int64_t b = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  if (h % r || w % r)
    throw Error(fmt::format("pixel_unshuffle: {}x{} is not a multiple of {}", h, w, r));
  return x.contiguous().view({b, c, h / r, r, w / r, r}).permute({0, 1, 3, 5, 2, 4}).reshape({b, c * r * r, h / r, w / r});
}

Scale scale_from_index(int i) {
  if (i < 0 || i > 2) throw Error(fmt::format("MBN scale index {} (0 coarse, 1 mid, 2 fine)", i));
  return static_cast<Scale>(i);
}

LstmHeadImpl::LstmHeadImpl() {
  auto lstm = register_module("lstm", std::make_shared<torch::nn::Module>());
  comb_ = lstm->register_module("comb_conv", MbnConv(6, 32, 3));
  gate_i_ = add_gate(*lstm, "conv_i", 64, 32);
  gate_f_ = add_gate(*lstm, "conv_f", 64, 32);
  gate_g_ = add_gate(*lstm, "conv_g", 64, 32);
  gate_o_ = add_gate(*lstm, "conv_o", 64, 32);
  conv1_ = register_module("conv1", MbnConv(32, 64, 3));
  conv2_ = register_module("conv2", MbnConv(256, 96, 3));
}

HeadOutput LstmHeadImpl::forward(const torch::Tensor& x_prev, const torch::Tensor& input, LstmState& state) {
  auto x = torch::relu(comb_->forward(torch::cat({x_prev, input}, 1)));
  x = torch::cat({x, state.h}, 1);
  const auto i = torch::sigmoid(gate_i_->forward(x));
  const auto f = torch::sigmoid(gate_f_->forward(x));
  const auto g = torch::tanh(gate_g_->forward(x));
  const auto o = torch::sigmoid(gate_o_->forward(x));
  state.c = f * state.c + i * g;
  state.h = o * torch::tanh(state.c);
  const auto res = torch::relu(conv1_->forward(state.h));
  return {torch::relu(conv2_->forward(reference_pixel_unshuffle(res, 2))), res};
}

C2fHeadImpl::C2fHeadImpl() {
  const char* tag[3] = {"C", "M", "F"};
  for (int s = 0; s < 3; ++s) first_[s] = register_module(fmt::format("{}_conv1", tag[s]), MbnConv(s == 0 ? 3 : 6, 32, 3));
  conv1_ = register_module("conv1", MbnConv(32, 32, 3));
  conv2_ = register_module("conv2", MbnConv(32, 32, 3));
  for (int s = 0; s < 3; ++s) second_[s] = register_module(fmt::format("{}_conv2", tag[s]), MbnConv(128, 64, 3));
  conv3_ = register_module("conv3", MbnConv(64, 64, 3));
  conv4_ = register_module("conv4", MbnConv(64, 64, 3));
  for (int s = 0; s < 3; ++s) third_[s] = register_module(fmt::format("{}_conv3", tag[s]), MbnConv(256, 96, 3));
}

HeadOutput C2fHeadImpl::forward(const torch::Tensor& x_in, Scale s) {
  const int k = idx(s);
  auto x = torch::relu(first_[k]->forward(x_in));
  x = torch::relu(conv2_->forward(torch::relu(conv1_->forward(x))));
  x = torch::relu(second_[k]->forward(reference_pixel_unshuffle(x, 2)));
  x = torch::relu(conv4_->forward(torch::relu(conv3_->forward(x))));
  const auto res = x;
  return {torch::relu(third_[k]->forward(reference_pixel_unshuffle(x, 2))), res};
}

PlainHeadImpl::PlainHeadImpl() {
  conv1_ = register_module("conv1", MbnConv(3, 32, 3));
  conv2_ = register_module("conv2", MbnConv(32, 64, 3, 2));
  conv3_ = register_module("conv3", MbnConv(64, 96, 3, 2));
}

HeadOutput PlainHeadImpl::forward(const torch::Tensor& x_in) {
  const auto res = torch::relu(conv2_->forward(torch::relu(conv1_->forward(x_in))));
  return {torch::relu(conv3_->forward(res)), res};
}

DecoderUp1Impl::DecoderUp1Impl() {
  up1_ = add_upsample(*this, "up1", 96, 2);
  conv1_ = register_module("conv1", MbnConv(48, 48, 3));
  conv2_ = register_module("conv2", MbnConv(48, 3, 3));
}

torch::Tensor DecoderUp1Impl::forward(const torch::Tensor& x, const torch::Tensor& residual) {
  return torch::tanh(conv2_->forward(torch::relu(conv1_->forward(up1_->forward(x))))) + residual;
}

C2fTailImpl::C2fTailImpl() {
  // Registration order = the reference's (its state dict's order).
  const char* tag[3] = {"C", "M", "F"};
  for (int s = 0; s < 3; ++s) {
    up1_[s] = add_upsample(*this, fmt::format("{}_upsamp1", tag[s]), 96, 4);
    upconv1_[s] = register_module(fmt::format("{}_upconv1", tag[s]), MbnConv(96, 64, 3));
  }
  conv1_ = register_module("conv1", MbnConv(64, 64, 3));
  conv2_ = register_module("conv2", MbnConv(64, 64, 3));
  for (int s = 0; s < 3; ++s) {
    up2_[s] = add_upsample(*this, fmt::format("{}_upsamp2", tag[s]), 64, 4);
    upconv2_[s] = register_module(fmt::format("{}_upconv2", tag[s]), MbnConv(64, 32, 3));
  }
  conv3_ = register_module("conv3", MbnConv(32, 32, 3));
  conv4_ = register_module("conv4", MbnConv(32, 32, 3));
  for (int s = 0; s < 3; ++s) out_[s] = register_module(fmt::format("{}_conv", tag[s]), MbnConv(32, 3, 3));
}

torch::Tensor C2fTailImpl::forward(const torch::Tensor& x_in, const torch::Tensor& residual, Scale s) {
  const int k = idx(s);
  auto x = torch::relu(upconv1_[k]->forward(up1_[k]->forward(x_in)));
  x = torch::relu(conv2_->forward(torch::relu(conv1_->forward(x))));
  x = torch::relu(upconv2_[k]->forward(up2_[k]->forward(x)));
  x = torch::relu(conv3_->forward(x));
  if (s != Scale::fine) x = conv4_->forward(x);  // the reference's fine branch has no conv4
  x = torch::relu(x);
  return torch::tanh(out_[0]->forward(x)) + residual;  // C_conv at every scale, as the reference
}

int64_t C2fTailImpl::vestigial_parameters() const {
  int64_t n = 0;
  for (int s = 1; s < 3; ++s)
    for (const auto& p : out_[s]->parameters()) n += p.numel();
  return n;
}

DecoderUp2Impl::DecoderUp2Impl() {
  up1_ = add_upsample(*this, "up1", 96, 4);
  conv1_ = register_module("conv1", MbnConv(96, 64, 3));
  up2_ = add_upsample(*this, "up2", 64, 4);
  conv2_ = register_module("conv2", MbnConv(64, 32, 3));
  conv3_ = register_module("conv3", MbnConv(32, 3, 3));
}

torch::Tensor DecoderUp2Impl::forward(const torch::Tensor& x, const torch::Tensor& residual) {
  auto y = torch::relu(conv1_->forward(up1_->forward(x)));
  y = torch::relu(conv2_->forward(up2_->forward(y)));
  return torch::tanh(conv3_->forward(y)) + residual;
}

}  // namespace dmgn::nn
