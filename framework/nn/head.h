#pragma once
// Feature-learning head F (Sec. III-A): hypercolumn of a frozen VGG-19 — activations at the
// configured taps (default relu1_1 .. relu5_1), each bilinearly resized (align_corners=false)
// to the input size and detached, concatenated with the input (3+64+128+256+512+512 = 1475
// channels) — then two 3x3 conv+ReLU (reflection padding) to `channels`.
// The VGG sees the model-space input as is (the official code feeds [-1, 1] images).
//
// Low-resolution taps (runtime.head_taps): the first conv is linear in its input channels,
// so it is a sum over sources (the image, each feature), and for a feature f at 1/s of the
// input size (s = 2, 4, 8, 16: relu2_1 .. relu5_1, 1408 of the 1475 channels) the conv over
// up_s(f) is computed at f's own resolution as a polyphase conv added to y phase by phase
// (nn/polyphase.h): the same MACs, but the 1472-channel full-resolution hypercolumn is never
// resized, concatenated, padded or kept for the backward. The lines within the conv's padding
// of the border, where the polyphase taps would read the reflection padding of up_s(f), are
// recomputed exactly from upsampled lines. The same function with the same weights (state
// dicts unchanged), up to float rounding, in its gradients too; the MAC count reported stays
// the architecture's. Features whose size is no exact fraction of the input (inputs not a
// multiple of 16) are resized and convolved directly. "inference" uses the taps only where no
// gradient is recorded (training keeps the official computation, bitwise); "always" also in
// training.
#include <torch/torch.h>

#include <map>
#include <memory>
#include <mutex>
#include <tuple>

#include "core/config.h"
#include "core/registry.h"
#include "nn/layers.h"
#include "nn/polyphase.h"
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
  // What conv1_by_source needs per input size and device, built once on the host (a forward
  // captured into a CUDA graph copies nothing from it): the polyphase bases per scale, and per
  // border side its lines.
  struct BorderSide {
    int64_t dim, first, count;                // output lines [first, first + count) along dim
    torch::Tensor index;                      // the full-resolution lines their conv reads
    std::map<int64_t, LineSampling> sampling; // those lines of up_s(f), per scale s
    std::map<int64_t, LineSampling> across;   // every line of up_s(f) along the other dim
  };
  struct TapPlan {
    std::map<int64_t, PolyphaseBasis> basis;
    std::map<int64_t, torch::Tensor> mix;     // polyphase_mix per scale, on the device
    std::vector<BorderSide> sides;
  };
  const TapPlan& plan_for(int64_t h, int64_t w, const std::vector<int64_t>& scales, const torch::Tensor& weight);
  // By input height, width, device type and index, and weight dtype (the taps are fixed, so
  // these decide the scales).
  using PlanKey = std::tuple<int64_t, int64_t, int, int, int>;
  std::map<PlanKey, TapPlan> plans_;
  std::mutex plans_mutex_;

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
