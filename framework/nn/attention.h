#pragma once
// Attention blocks of DMGN (registry kind "block"):
//   separator — S, Eq. 2: two 3x3 conv+ReLU, then A = sigmoid(1x1(tanh(1x1(.)))) with one
//               channel; F_b = out * A, F_r = out * (1 - A) (official: `out` is the conv output).
//   aca       — Adapted Channel-wise Attention, Eq. 6-8: f_conv = depthwise 5x5 stride-4 conv
//               (reflection pad 1, no bias) + ReLU; Feat' = sigmoid(w_i f_conv) * f_conv
//               (depthwise 1x1); SE block (FC C->C/r, ReLU, FC C/r->C, no biases, sigmoid);
//               output = sign * a_i * Feat_i. One module serves F_b (sign +1) and F(R) (sign -1).
//   ndm       — noise distribution map, Eq. 9: concat[F(I), F(R)] -> 3x3 conv+ReLU (2C->C),
//               3x3 conv+ReLU, 1x1 (no bias), tanh, 1x1 -> 1 (no bias), sigmoid = A_r;
//               normalised (A_r - mean)/(max - mean) over the whole batch tensor (official).
#include <torch/torch.h>

#include <memory>
#include <string>

#include "core/config.h"
#include "core/registry.h"
#include "nn/layers.h"

namespace dmgn::nn {

struct BlockShape {
  int64_t channels = 64;
};

struct SeparatorOutput {
  torch::Tensor fb, fr, mask;
};

class SeparatorImpl : public torch::nn::Module {
 public:
  explicit SeparatorImpl(int64_t channels);
  SeparatorOutput forward(const torch::Tensor& f);

 private:
  Conv conv1_{nullptr}, conv2_{nullptr}, mask1_{nullptr}, mask2_{nullptr};
};

class AcaImpl : public torch::nn::Module {
 public:
  AcaImpl(int64_t channels, int64_t reduction, int64_t kernel, int64_t stride, int64_t pad);
  torch::Tensor forward(const torch::Tensor& x, double sign = 1.0);

 private:
  Conv fconv_{nullptr}, sharp_{nullptr};
  Linear fc1_{nullptr}, fc2_{nullptr};
};

enum class NdmNormalise { batch, sample, none };

class NdmImpl : public torch::nn::Module {
 public:
  NdmImpl(int64_t channels, NdmNormalise normalise);
  // Returns the normalised noise map A_r (N x 1 x H x W, fp32 also under bf16 autocast: the
  // sigmoid and the normalisation run in fp32, see normalise_map); A_b = 1 - A_r.
  torch::Tensor forward(const torch::Tensor& f_input, const torch::Tensor& f_noise);

 private:
  Conv conv1_{nullptr}, conv2_{nullptr}, mask1_{nullptr}, mask2_{nullptr};
  NdmNormalise normalise_;
};

// (A - mean) / (max - mean), per batch tensor or per sample (official: whole batch), computed
// in fp32 whatever the input's type (the result is fp32). In bf16 the mean of a nearly constant
// map rounds to within one bf16 step (2^-8 near 1) of its maximum, or onto it, so max - mean
// loses every significant bit: the quotient explodes (inf on the GPU after a few training
// steps, observed in the paper-size model's first bf16 steps on an H200) where fp32 gives the
// official code's values.
torch::Tensor normalise_map(const torch::Tensor& a, NdmNormalise mode);
NdmNormalise ndm_normalise_from_string(const std::string& s, const std::string& key);

// registry "block": factory([model] table, shape) -> module (each block reads its own
// sub-table: model.aca, model.refine.ndm, model.separator); callers downcast
// with block_as<T>() which names the block and the role on mismatch.
using BlockRegistry = Registry<std::shared_ptr<torch::nn::Module>, const Config&, const BlockShape&>;
BlockRegistry& blocks();

template <class T>
std::shared_ptr<T> block_as(const std::string& name, const Config& cfg, const BlockShape& shape,
                            const std::string& role) {
  auto m = blocks().make(name, cfg, shape);
  auto typed = std::dynamic_pointer_cast<T>(m);
  if (!typed) throw RegistryError("block '" + name + "' cannot serve as the " + role);
  return typed;
}

}  // namespace dmgn::nn
