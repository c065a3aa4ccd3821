#pragma once
// Feature-learning head F (Sec. III-A): hypercolumn of a frozen VGG-19 — activations at the
// configured taps (default relu1_1 .. relu5_1), each bilinearly resized (align_corners=false)
// to the input size and detached, concatenated with the input (3+64+128+256+512+512 = 1475
// channels) — then two 3x3 conv+ReLU (reflection padding) to `channels`.
// The VGG sees the model-space input as is (the official code feeds [-1, 1] images).
#include <torch/torch.h>

#include <memory>

#include "core/config.h"
#include "core/registry.h"
#include "nn/layers.h"
#include "nn/vgg.h"

namespace dmgn::nn {

class Head : public torch::nn::Module {
 public:
  virtual torch::Tensor forward(const torch::Tensor& image) = 0;
  // The frozen VGG-19 inside, shared with the perceptual loss (null if the head has none).
  virtual Vgg19 vgg() const = 0;
};
using HeadPtr = std::shared_ptr<Head>;

class HypercolumnHead : public Head {
 public:
  // cfg: the [model.head] table (taps, vgg_weights).
  HypercolumnHead(const Config& cfg, int64_t channels);
  torch::Tensor forward(const torch::Tensor& image) override;
  Vgg19 vgg() const override { return vgg_; }

 private:
  std::vector<int64_t> taps_;
  Vgg19 vgg_{nullptr};
  Conv conv1_{nullptr}, conv2_{nullptr};
};

// registry "head": factory([model.head] table, output channels).
using HeadRegistry = Registry<HeadPtr, const Config&, int64_t>;
HeadRegistry& heads();

}  // namespace dmgn::nn
