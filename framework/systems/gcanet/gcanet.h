#pragma once
// GCANet (Chen, He, Wang, Yuan, Chen, Lu and Wei, "Gated Context Aggregation Network for Image
// Dehazing and Deraining", WACV 2019; cddlyf/GCANet GCANet.py and test.py): GCANet(in_c = 4,
// out_c = 3, only_residual = True) on the image and its edge channel, as test.py feeds it:
//   x   = 255 I (I in [0, 1]);  e = edge(x): the mean over R, G, B of the sum of |differences|
//         with the 4-neighbours inside the image, / 12 (border pixels too: test.py's edge_compute)
//   y1  = conv3(s2) . conv2 . conv1 (each 3x3, no bias, InstanceNorm(affine), ReLU) of cat[x, e] - 128
//   y2  = res4 . res3 . res2 . res1 (y1)      smoothed dilated residual blocks, dilation 2, 2, 2, 4
//   y3  = res7 . res6 . res5 (y2)             dilation 4, 4, then a plain residual block
//   g   = gate(cat[y1, y2, y3])               3x3 conv, 3 maps, bias, no activation
//   y   = y1 g_0 + y2 g_1 + y3 g_2            gated fusion
//   r   = deconv1 . ReLU(norm5(deconv2 . ReLU(norm4(deconv3 (ConvTranspose 4x4 s2) y))))
//   J   = (x + r) / 255                       (only_residual; else J = ReLU(r) / 255, the released
//                                              deraining model's mistake that test.py notes)
// A smoothed dilated block: ReLU(x + IN(conv_d(S(ReLU(IN(conv_d(S(x)))))))), S = ShareSepConv
// (one learned (2d - 1)^2 kernel shared by every channel, identity at init). Parameter names are
// the reference's (conv1.weight, res4.pre_conv1.weight, gate.bias, deconv3.weight, ...), so its
// released wacv_gcanet_dehaze.pth loads by name. Even sides only (conv3's stride 2 and the
// transposed conv's x2); instance norm needs at least 2 x 2 at half size: 4 px.
#include <torch/torch.h>

#include "models/model.h"
#include "nn/layers.h"

namespace dmgn::models {

namespace gcanet {

// test.py's edge_compute on N x 3 x H x W (0..255): N x 1 x H x W.
torch::Tensor edge(const torch::Tensor& x255);

// One kernel shared by all channels (depthwise, zero padding (k - 1) / 2, no bias).
class ShareSepConvImpl : public torch::nn::Module {
 public:
  explicit ShareSepConvImpl(int64_t kernel);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  int64_t k_;
  torch::Tensor weight_;
};
TORCH_MODULE(ShareSepConv);

class ResidualBlockImpl : public torch::nn::Module {
 public:
  // dilation 1 without smoothing: the reference's ResidualBlock; else SmoothDilatedResidualBlock.
  ResidualBlockImpl(int64_t channels, int64_t dilation, bool smooth);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  ShareSepConv pre1_{nullptr}, pre2_{nullptr};
  nn::Conv conv1_{nullptr}, conv2_{nullptr};
  torch::nn::InstanceNorm2d norm1_{nullptr}, norm2_{nullptr};
};
TORCH_MODULE(ResidualBlock);

}  // namespace gcanet

class GcaNet : public Model {
 public:
  explicit GcaNet(const Config& cfg);
  // "background": J in [0, 1] scale, unclamped (the reference's (pred + img) / 255 before its
  // rounding); "residual": r in 0..255 units (the network's output).
  Outputs forward(const torch::Tensor& input) override;

 private:
  bool only_residual_ = true;
  nn::Conv conv1_{nullptr}, conv2_{nullptr}, conv3_{nullptr}, gate_{nullptr}, deconv2_{nullptr}, deconv1_{nullptr};
  nn::Deconv deconv3_{nullptr};
  torch::nn::InstanceNorm2d norm1_{nullptr}, norm2_{nullptr}, norm3_{nullptr}, norm4_{nullptr}, norm5_{nullptr};
  std::vector<gcanet::ResidualBlock> res_;
};

// Even sides, at least 4 px (see the top).
InputRequirement gcanet_input_requirement(const Config& cfg);

}  // namespace dmgn::models
