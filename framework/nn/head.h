#pragma once
// Feature-learning head F (Sec. III-A): hypercolumn of a frozen VGG-19 — activations at the
// configured taps (default relu1_1 .. relu5_1), each bilinearly resized (align_corners=false)
// to the input size and detached, concatenated with the input (3+64+128+256+512+512 = 1475
// channels) — then two 3x3 conv+ReLU (reflection padding) to `channels`.
// The VGG sees the model-space input as is (the official code feeds [-1, 1] images).
//
// Low-resolution taps (runtime.head_taps): the first conv is linear in its
// input channels, and bilinear resizing and reflection padding act on each channel alone, so
// for a feature f at 1/s of the input size
//     conv3x3(pad(up(f)), W) = sum over taps t of shift_t(pad(up(W_t f)))
// where W_t f is a 1x1 conv at f's own resolution with the tap's weights W[:, :, ty, tx]. For
// relu3_1 .. relu5_1 (s = 4, 8, 16; 1280 of the 1475 channels) that replaces a full-resolution
// 3x3 conv over their channels, its weight gradient and its input gradient by products at 1/16
// .. 1/256 of the pixels, and the 1475-channel concatenation by one of 195 channels. The
// same function with the same weights (state dicts unchanged), up to float rounding; the MAC
// count reported stays the architecture's. With gradients the trade differs: the direct conv
// needs no gradient through the (detached) features, the taps need one through their resized
// products, so the default ("inference") uses the taps only where no gradient is recorded.
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
  // When to compute the first conv with low-resolution taps (see the top); heads without such
  // a conv ignore it.
  enum class Taps { never, inference, always };
  virtual void use_low_res_taps(Taps when) {}
};
using HeadPtr = std::shared_ptr<Head>;

class HypercolumnHead : public Head {
 public:
  // cfg: the [model.head] table (taps, vgg_weights).
  HypercolumnHead(const Config& cfg, int64_t channels);
  torch::Tensor forward(const torch::Tensor& image) override;
  Vgg19 vgg() const override { return vgg_; }
  void use_low_res_taps(Taps when) override { taps_when_ = when; }

 private:
  // conv1 over [image, up(f_1), ..., up(f_n)] source by source (see the top).
  torch::Tensor conv1_by_source(const torch::Tensor& image, const std::vector<torch::Tensor>& feats);

  Taps taps_when_ = Taps::never;
  std::vector<int64_t> taps_;
  Vgg19 vgg_{nullptr};
  Conv conv1_{nullptr}, conv2_{nullptr};
};

// runtime.head_taps -> Head::Taps; ConfigError naming the key for anything else.
Head::Taps head_taps_from_string(const std::string& s);

// registry "head": factory([model.head] table, output channels).
using HeadRegistry = Registry<HeadPtr, const Config&, int64_t>;
HeadRegistry& heads();

}  // namespace dmgn::nn
