#pragma once
// IBCLN's generator (JHL-HUST/IBCLN models/networks.py, Generator_drop(9, 3, 64), its "gen_drop"):
// one iteration of G_T or G_R on cat[I, T_prev, R_prev] (9 channels, [0, 1]) and the ConvLSTM
// state (h, c) at 1/4 resolution. No normalisation; every conv has a bias and zero padding; ReLU
// after every conv except the LSTM gates:
//   conv1 5x5 9->64 (= res1) . conv2 3x3 s2 64->128 . conv3 128->128 (= res2) . conv4 s2 128->256
//   . conv5 . conv6 . diconv1..4 (dilation 2, 4, 8, 16) . conv7                       (H/4, 256)
//   ConvLSTM on z = cat[x, h]: i, f, o = sigmoid(conv_i/f/o(z)), g = tanh(conv_g(z)) (3x3, 512->256);
//   c' = f c + i g; h' = o tanh(c')
//   conv8(h') -> outframe1 (3x3 256->3, ReLU: the H/4 side image)
//   deconv1: ConvTranspose 4x4 s2 p1 256->128, reflection pad (left 1, top 1), 2x2 average pool
//   stride 1, ReLU; + res2 . conv9 (ReLU, Dropout 0.3) -> outframe2 (128->3: the H/2 side image)
//   deconv2 (the same, 128->64); + res1 . conv10 64->32 . output 32->3 (ReLU)
// Parameter names are the reference's (conv1.0.weight, conv_i.0.bias, deconv1.0.weight, ...).
// Sides must be multiples of 4 (two stride-2 levels, the skips added at their sizes).
#include <torch/torch.h>

#include "nn/layers.h"

namespace dmgn::models::ibcln {

struct GeneratorOutput {
  torch::Tensor image, h, c, half, quarter;  // the reference's (out, h, c, frame1, frame2)
};

class GeneratorImpl : public torch::nn::Module {
 public:
  GeneratorImpl();
  GeneratorOutput forward(const torch::Tensor& x, const torch::Tensor& h, const torch::Tensor& c);
  static constexpr int64_t kStateChannels = 256;
  // Every conv and transposed-conv layer (the init redraws their weights and biases).
  std::vector<torch::nn::Module*> layers() const;

 private:
  torch::nn::Sequential block(const std::string& name, int64_t in, int64_t out, int64_t k, int64_t stride,
                              int64_t dilation, const char* activation);
  torch::nn::Sequential up(const std::string& name, int64_t in, int64_t out);
  torch::nn::Sequential conv1_, conv2_, conv3_, conv4_, conv5_, conv6_, diconv1_, diconv2_, diconv3_, diconv4_,
      conv7_, conv_i_, conv_f_, conv_g_, conv_o_, conv8_, deconv1_, conv9_, deconv2_, conv10_, outframe1_,
      outframe2_, output_;
};
TORCH_MODULE(Generator);

}  // namespace dmgn::models::ibcln
