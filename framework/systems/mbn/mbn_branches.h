#pragma once
// MBN's input and output branches (the reference's pietorch/N_modules.py, github
// 6272code/6272-code), with the reference's parameter names so its EnDNet state dicts load by
// name. Every conv is an MbnConv (reflection padding, bias) followed by ReLU unless noted.
//   LstmHead (I1, LSTMHeadDown1, rain): cat[x_prev, input] -> ConvLSTM (lstm.comb_conv 6->32 + ReLU,
//       gates conv_i/f/g/o on cat[x, h], 64->32: c = f c + i g, h = o tanh(c)) -> conv1 32->64
//       (= res, full resolution) -> pixel_unshuffle(2) -> conv2 256->96. 315,392 parameters.
//   C2fHead (I2/I3, C2FShareHead(need_res2=False), blur / JPEG): scale-specific first convs
//       {F,M}_conv1 6->32 (image + the previous scale's upsampled output), C_conv1 3->32; shared
//       conv1, conv2 32->32; unshuffle; {F,M,C}_conv2 128->64; shared conv3, conv4 64->64 (= res);
//       unshuffle; {F,M,C}_conv3 256->96. 981,984 parameters.
//   PlainHead (I4, NormalHeadDown2, haze; also the minimal design's one input branch): conv1
//       3->32, conv2 32->64 stride 2 (= res), conv3 64->96 stride 2. 74,784 parameters.
//   DecoderUp1 (g1, NormalDecoderUp1, rain): up1 (1x1 96->192, PixelShuffle 2), conv1 48->48,
//       tanh(conv2 48->3) + input. 40,707 parameters.
//   C2fTail (g2/g3, C2FShareTail(sum_before=False)): per scale {C,M,F}_upsamp1 (1x1 96->384 +
//       PixelShuffle), {C,M,F}_upconv1 96->64, shared conv1, conv2; {C,M,F}_upsamp2 (1x1 64->256 +
//       PixelShuffle), {C,M,F}_upconv2 64->32, shared conv3; then coarse and mid apply conv4 and a
//       ReLU, the fine scale a second ReLU without conv4 (the reference's fine branch skips it);
//       every scale ends in tanh(C_conv 32->3) + input: the reference calls C_conv at all three
//       scales, so M_conv and F_conv are parameters that never run (vestigial, 1,734 of them).
//       478,089 parameters.
//   DecoderUp2 (g4, NormalDecoderUp2, haze; also the minimal design's g_i): up1 (1x1 96->384 +
//       PixelShuffle), conv1 96->64, up2 (1x1 64->256 + PixelShuffle), conv2 64->32,
//       tanh(conv3 32->3) + input. 128,579 parameters.
// reference_pixel_unshuffle is the reference's utils.pixel_unshuffle: view(b, c, h/r, r, w/r, r),
// permute(0, 1, 3, 5, 2, 4): output channel c*r*r + i*r + j holds x[c, r*y + i, r*x + j].
#include <torch/torch.h>

#include <string>
#include <utility>

#include "nn/lstm_state.h"
#include "systems/mbn/mbn_blocks.h"

namespace dmgn::nn {

torch::Tensor reference_pixel_unshuffle(const torch::Tensor& x, int64_t r);

enum class Scale { coarse, mid, fine };
Scale scale_from_index(int i);  // 0 coarse, 1 mid, 2 fine

struct HeadOutput {
  torch::Tensor x, res;
};

class LstmHeadImpl : public torch::nn::Module {
 public:
  LstmHeadImpl();
  // x_prev: the previous iteration's output (the input at the first); state: h, c (32 channels).
  HeadOutput forward(const torch::Tensor& x_prev, const torch::Tensor& input, LstmState& state);

 private:
  MbnConv comb_{nullptr}, gate_i_{nullptr}, gate_f_{nullptr}, gate_g_{nullptr}, gate_o_{nullptr};
  MbnConv conv1_{nullptr}, conv2_{nullptr};
};
TORCH_MODULE(LstmHead);

class C2fHeadImpl : public torch::nn::Module {
 public:
  C2fHeadImpl();
  HeadOutput forward(const torch::Tensor& x, Scale s);

 private:
  MbnConv first_[3]{MbnConv{nullptr}, MbnConv{nullptr}, MbnConv{nullptr}};  // C, M, F
  MbnConv second_[3]{MbnConv{nullptr}, MbnConv{nullptr}, MbnConv{nullptr}};
  MbnConv third_[3]{MbnConv{nullptr}, MbnConv{nullptr}, MbnConv{nullptr}};
  MbnConv conv1_{nullptr}, conv2_{nullptr}, conv3_{nullptr}, conv4_{nullptr};
};
TORCH_MODULE(C2fHead);

class PlainHeadImpl : public torch::nn::Module {
 public:
  PlainHeadImpl();
  HeadOutput forward(const torch::Tensor& x);

 private:
  MbnConv conv1_{nullptr}, conv2_{nullptr}, conv3_{nullptr};
};
TORCH_MODULE(PlainHead);

class DecoderUp1Impl : public torch::nn::Module {
 public:
  DecoderUp1Impl();
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& residual);

 private:
  torch::nn::Sequential up1_{nullptr};
  MbnConv conv1_{nullptr}, conv2_{nullptr};
};
TORCH_MODULE(DecoderUp1);

class C2fTailImpl : public torch::nn::Module {
 public:
  C2fTailImpl();
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& residual, Scale s);
  // M_conv and F_conv: registered (the reference's state dict has them), never run.
  int64_t vestigial_parameters() const;

 private:
  torch::nn::Sequential up1_[3], up2_[3];
  MbnConv upconv1_[3]{MbnConv{nullptr}, MbnConv{nullptr}, MbnConv{nullptr}};
  MbnConv upconv2_[3]{MbnConv{nullptr}, MbnConv{nullptr}, MbnConv{nullptr}};
  MbnConv out_[3]{MbnConv{nullptr}, MbnConv{nullptr}, MbnConv{nullptr}};
  MbnConv conv1_{nullptr}, conv2_{nullptr}, conv3_{nullptr}, conv4_{nullptr};
};
TORCH_MODULE(C2fTail);

class DecoderUp2Impl : public torch::nn::Module {
 public:
  DecoderUp2Impl();
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& residual);

 private:
  torch::nn::Sequential up1_{nullptr}, up2_{nullptr};
  MbnConv conv1_{nullptr}, conv2_{nullptr}, conv3_{nullptr};
};
TORCH_MODULE(DecoderUp2);

}  // namespace dmgn::nn
