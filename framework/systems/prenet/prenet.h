#pragma once
// PReNet (Ren, Zuo, Hu, Zhu and Meng, "Progressive Image Deraining Networks: A Better and Simpler
// Baseline", CVPR 2019; csdwren/PReNet networks.py) and the variants its code builds, as config
// keys: model.lstm = false gives PRN (no recurrent unit), model.shared_block = true gives the
// "_r" variants (one residual block applied model.blocks times per stage). Weights are shared
// across the model.stages stages in every variant. One stage t, on the rainy image y in [0, 1]:
//   f   = ReLU(conv0(cat[y, x_{t-1}]))                         (x_0 = y; 6 -> 32 channels)
//   ConvLSTM: z = cat[f, h]; i, f', o = sigmoid(conv_i/f/o(z)); g = tanh(conv_g(z));
//             c = f' c + i g; h = o tanh(c); features = h       (h_0 = c_0 = 0; PRN: features = f)
//   5 x: features = ReLU(ReLU(conv(ReLU(conv(features)))) + features)   (res_conv1..5)
//   x_t = conv(features) + y                                   (32 -> 3, no activation)
// Every conv 3x3, stride 1, zero padding 1, with bias: no size limit. Parameter names are the
// reference's (conv0.0.weight, res_conv1.2.bias, conv_i.0.weight, conv.0.weight, ...), so its
// released net_latest.pth loads by name.
#include <torch/torch.h>

#include "models/model.h"

namespace dmgn::models {

class PReNet : public Model {
 public:
  explicit PReNet(const Config& cfg);
  // "background": x_T, the last stage (the reference's x, unclamped); "stages": x_1 .. x_T (x_list).
  Outputs forward(const torch::Tensor& input) override;
  // The reference's class name of this configuration: PReNet, PReNet_r, PRN or PRN_r.
  static std::string variant_name(bool lstm, bool shared_block);

 private:
  torch::nn::Sequential conv_relu(const std::string& name, int64_t in, int64_t out, bool relu);
  int64_t stages_ = 6, blocks_ = 5, channels_ = 32;
  bool lstm_ = true, shared_ = false;
  torch::nn::Sequential conv0_{nullptr}, conv_i_{nullptr}, conv_f_{nullptr}, conv_g_{nullptr}, conv_o_{nullptr},
      conv_{nullptr};
  std::vector<torch::nn::Sequential> res_;
};

}  // namespace dmgn::models
