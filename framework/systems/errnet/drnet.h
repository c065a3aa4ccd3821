#pragma once
// DRNet, ERRNet's image network (Wei et al., CVPR 2019; Vandermode/ERRNet models/arch/default.py,
// built by arch.errnet as DRNet(in, 3, 256, 13, norm=None, res_scale=0.1, se_reduction=8,
// bottom_kernel_size=1, pyramid=True)). No normalisation layers; every conv has a bias and zero
// padding (k - 1)/2 unless stated:
//   conv1    k x k conv (bottom kernel, 1), in -> n_feats, ReLU
//   conv2    3x3, ReLU
//   conv3    3x3 stride 2, ReLU                                             (1/2 resolution)
//   res_module  blocks x ResidualBlock: x + res_scale * SE(conv3x3(ReLU(conv3x3(x))))
//            SE: global average pool, Linear(c, c/r), ReLU, Linear(c/r, c), sigmoid, x * s
//   deconv1  ConvTranspose 4x4 stride 2 padding 1, ReLU                    (full resolution)
//   deconv2  3x3, ReLU
//   pyramid_module  PyramidPooling(n_feats -> n_feats): per scale s in 4, 8, 16, 32,
//            AvgPool2d(s) -> 1x1 conv n_feats -> n_feats/4 (no bias) -> LeakyReLU 0.2 ->
//            nearest upsampling to H x W; concat [stages..., x]; 1x1 conv -> n_feats; LeakyReLU 0.2
//   deconv3  1x1 conv n_feats -> out, ReLU
// At the defaults (1475 input channels: the image and its 1472-channel VGG-19 hypercolumn)
// 18,953,379 parameters, the count the reference's networks.print_network gives.
// Parameter names are the reference's state_dict names (conv1.conv2d.weight,
// res_module.<i>.se_layer.fc.0.weight, pyramid_module.stages.<i>.1.weight,
// pyramid_module.bottleneck.weight, deconv3.conv2d.bias, ...), so its state dicts load by name.
// The layers are registered on an owner module (build_drnet): DrNetImpl owns them as a network of
// its own, and models::ErrNet registers them at its own top level beside its VGG-19, so that the
// model's parameter names are the reference's too.
#include <torch/torch.h>

#include <vector>

#include "nn/layers.h"
#include "nn/layers.h"  // nn::Deconv: ConvTranspose2d counting its MACs

namespace dmgn::models::errnet {

struct DrNetOptions {
  int64_t in_channels = 3 + 1472;  // the image and its VGG-19 hypercolumn
  int64_t out_channels = 3;
  int64_t n_feats = 256;
  int64_t resblocks = 13;
  int64_t se_reduction = 8;  // 0: no SE layer (the reference's basenet)
  double res_scale = 0.1;
  int64_t bottom_kernel = 1;  // conv1's kernel side (odd)
  bool pyramid = true;        // false: deconv2 feeds deconv3 directly
};

// The scales of the pyramid pooling (the reference's fixed (4, 8, 16, 32)).
const std::vector<int64_t>& pyramid_scales();

// The reference's ConvLayer: "conv2d" (a zero-padded conv, or a transposed conv) and an optional
// ReLU (its "act", which holds no parameters).
class ConvLayerImpl : public torch::nn::Module {
 public:
  enum class Kind { conv, deconv };
  ConvLayerImpl(Kind kind, int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding, bool relu);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  nn::Conv conv_{nullptr};
  nn::Deconv deconv_{nullptr};
  bool relu_;
};
TORCH_MODULE(ConvLayer);

// Squeeze-and-excitation: x * sigmoid(fc(avgpool(x))), fc = Linear, ReLU, Linear (with biases).
class SeLayerImpl : public torch::nn::Module {
 public:
  SeLayerImpl(int64_t channels, int64_t reduction);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::nn::Sequential fc_{nullptr};
};
TORCH_MODULE(SeLayer);

// x + res_scale * SE(conv2(conv1(x))), conv1 3x3 + ReLU, conv2 3x3 (no activation).
class ResidualBlockImpl : public torch::nn::Module {
 public:
  ResidualBlockImpl(int64_t channels, int64_t se_reduction, double res_scale);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  ConvLayer conv1_{nullptr}, conv2_{nullptr};
  SeLayer se_layer_{nullptr};
  double res_scale_;
};
TORCH_MODULE(ResidualBlock);

// PSPNet-style pooling: "stages.<i>" = Sequential(AvgPool2d(s), 1x1 conv in -> ct (no bias),
// LeakyReLU 0.2), each upsampled (nearest) to the input's size; "bottleneck" = 1x1 conv over
// [stages..., x] -> out, then LeakyReLU 0.2. Needs sides >= the largest scale.
class PyramidPoolingImpl : public torch::nn::Module {
 public:
  PyramidPoolingImpl(int64_t in, int64_t out, const std::vector<int64_t>& scales, int64_t ct_channels);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::nn::ModuleList stages_{nullptr};
  nn::Conv bottleneck_{nullptr};
};
TORCH_MODULE(PyramidPooling);

// DRNet's layers, registered on `owner` under the reference's names; forward() runs them.
struct DrNetLayers {
  ConvLayer conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
  torch::nn::Sequential res_module{nullptr};
  ConvLayer deconv1{nullptr}, deconv2{nullptr};
  PyramidPooling pyramid_module{nullptr};  // null without the pyramid
  ConvLayer deconv3{nullptr};
  torch::Tensor forward(const torch::Tensor& x);
  // Every weight (not the biases) of the layers: what an init scheme redraws.
  std::vector<torch::Tensor> weights() const;
};

// Builds the layers on `owner`; ConfigError-free (callers validate), TORCH_CHECKs sizes.
DrNetLayers build_drnet(torch::nn::Module& owner, const DrNetOptions& o);

// DRNet as a module of its own (its parameter names are the reference's DRNet state_dict's).
class DrNetImpl : public torch::nn::Module {
 public:
  explicit DrNetImpl(const DrNetOptions& o);
  torch::Tensor forward(const torch::Tensor& x) { return layers_.forward(x); }
  const DrNetLayers& layers() const { return layers_; }

 private:
  DrNetLayers layers_;
};
TORCH_MODULE(DrNet);

}  // namespace dmgn::models::errnet
