#pragma once
// Building blocks of Location-aware SIRR (Dong et al., ICCV 2021; the reference code is
// zdlarr/Location-aware-SIRR, class LRM). Zero "same" padding and no normalisation anywhere.
// Parameter names follow the reference modules (conv2d / act / se_layer / cbam_layer ...), so
// its state dicts load by name (systems/location_sirr/location_sirr.h). Registered as blocks by systems/location_sirr/register.cpp.
//
//   mlsm        — multi-scale Laplacian submodule (Eq. 4): one learnable depthwise 3x3 kernel
//                 per input channel, initialised to k_L = [0,-1,0; -1,4,-1; 0,-1,0] (LKI) or
//                 N(0, 0.02) (RKI), shared by every scale s: X resized bilinearly
//                 (align_corners false) by 1/s, filtered (padding 1), resized back;
//                 X_out = concat over scales in the configured order (reference [8, 4, 2, 1]).
//                 operator "edge" (Table 2's Laplacian -> Edge) uses two learnable kernels per
//                 channel, initialised to the forward differences d/dx, d/dy.
//   se_resblock — SE-ResBlock [11]: y = x + s * SE(conv3x3(act(conv3x3(x)))), no conv biases,
//                 SE(z) = z * sigmoid(W2 relu(W1 GAP(z) + b1) + b2), reduction r, res_scale s.
//   cbam_resblock — y = x + SA(CA(conv3x3(relu(conv3x3(x))))), no conv biases (CBAM):
//                 CA(z) = z * sigmoid(MLP(avgpool z) + MLP(maxpool z)), MLP = 1x1 C->C/r, ReLU,
//                 1x1 C/r->C, no biases; SA(z) = z * sigmoid(conv7x7([mean_c z, max_c z])).
//   conv_lstm   — ConvLSTM cell: z = [x, h]; i, f, o = sigmoid(conv3x3 z), g = tanh(conv3x3 z);
//                 c' = f c + i g; h' = o tanh(c').
#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

#include "nn/layers.h"
#include "nn/lstm_state.h"

namespace dmgn::nn {

// 3x3 zero-padded conv (bias as given) and an optional activation, as the reference's
// Conv2DLayer ("conv2d", "act"); act: "relu" | "prelu" (one learnable slope, 0.25) | "".
class ConvActImpl : public torch::nn::Module {
 public:
  ConvActImpl(int64_t in, int64_t out, bool bias, const std::string& act);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  Conv conv_{nullptr};
  torch::nn::PReLU prelu_{nullptr};
  bool relu_ = false;
};
TORCH_MODULE(ConvAct);

enum class MlsmOperator { laplacian, edge };
enum class KernelInit { laplacian, random };  // LKI / RKI (Table 2)

struct MlsmOptions {
  int64_t channels = 6;
  std::vector<int64_t> scales{8, 4, 2, 1};  // downsampling factors, in concatenation order
  MlsmOperator op = MlsmOperator::laplacian;
  KernelInit init = KernelInit::laplacian;
  bool learnable = true;  // false: "Fix MLSM"
  int64_t out_channels() const;
};

class MlsmImpl : public torch::nn::Module {
 public:
  explicit MlsmImpl(const MlsmOptions& o);
  // x: N x channels x H x W, H and W divisible by every scale.
  torch::Tensor forward(const torch::Tensor& x);
  const MlsmOptions& options() const { return o_; }
  torch::Tensor kernel;  // channels*k x 1 x 3 x 3 (k = 1 Laplacian, 2 edge)

 private:
  MlsmOptions o_;
};
TORCH_MODULE(Mlsm);

// The initial kernel of an operator for `channels` input channels (Laplacian: channels x 1 x 3
// x 3; edge: 2*channels x 1 x 3 x 3, d/dx then d/dy per channel).
torch::Tensor mlsm_initial_kernel(MlsmOperator op, int64_t channels);

class SeLayerImpl : public torch::nn::Module {
 public:
  SeLayerImpl(int64_t channels, int64_t reduction);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  Linear fc1_{nullptr}, fc2_{nullptr};
};
TORCH_MODULE(SeLayer);

class SeResBlockImpl : public torch::nn::Module {
 public:
  // act: "relu" | "prelu" (inside the block, after the first conv).
  SeResBlockImpl(int64_t channels, int64_t reduction, double res_scale, const std::string& act);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  ConvAct conv1_{nullptr}, conv2_{nullptr};
  SeLayer se_{nullptr};
  double res_scale_;
};
TORCH_MODULE(SeResBlock);

class CbamLayerImpl : public torch::nn::Module {
 public:
  CbamLayerImpl(int64_t channels, int64_t reduction);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  Conv fc1_{nullptr}, fc2_{nullptr}, spatial_{nullptr};
};
TORCH_MODULE(CbamLayer);

class CbamResBlockImpl : public torch::nn::Module {
 public:
  CbamResBlockImpl(int64_t channels, int64_t reduction);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  ConvAct conv1_{nullptr}, conv2_{nullptr};
  CbamLayer cbam_{nullptr};
};
TORCH_MODULE(CbamResBlock);

class ConvLstmCellImpl : public torch::nn::Module {
 public:
  // in: channels of x; hidden: channels of h and c. Gates named conv_i / conv_f / conv_g /
  // conv_o (each a "0" conv, as the reference's Sequential).
  ConvLstmCellImpl(int64_t in, int64_t hidden);
  // Zero state when `state` is undefined (first iteration).
  LstmState forward(const torch::Tensor& x, const LstmState& state);
  int64_t hidden() const { return hidden_; }

 private:
  int64_t hidden_;
  std::vector<Conv> gates_;  // i, f, g, o
};
TORCH_MODULE(ConvLstmCell);

}  // namespace dmgn::nn
