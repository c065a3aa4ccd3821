#pragma once
// VGG-19 `features` (torchvision layout: 16 3x3 convs with zero padding 1, ReLU, 2x2 max
// pools), frozen. Used by the hypercolumn head (relu1_1..relu5_1 = indices 1, 6, 11, 20,
// 29) and by the perceptual loss (Eq. 12). Weights come from a file named in config; without
// one they stay random (callers warn loudly and mark the run vgg_weights=random).
#include <torch/torch.h>

#include <filesystem>
#include <string>
#include <vector>

#include "nn/layers.h"

namespace dmgn::nn {

class Vgg19Impl : public torch::nn::Module {
 public:
  Vgg19Impl();
  // Activations after the given `features` indices (ascending, each <= 35), in that order.
  // Runs only the layers up to the deepest index.
  std::vector<torch::Tensor> forward(const torch::Tensor& x, const std::vector<int64_t>& taps);
  // The config key that names this network's weights file, set by whoever builds it (the
  // models module for a hypercolumn head, a recipe for its loss network): load errors, the run's
  // provenance and the warning of a run without weights name it, so the trainer names none.
  void set_weights_key(std::string key) { key_ = std::move(key); }
  const std::string& weights_key() const { return key_; }
  // Loads a torch.save'd state dict of vgg19().features ("0.weight", ...) or of a whole vgg19
  // ("features.0.weight", ...). Throws IoError / DataError naming the file and key.
  void load_weights(const std::filesystem::path& file);
  bool pretrained() const { return pretrained_; }
  // The file load_weights read (empty: random weights).
  const std::filesystem::path& weights_file() const { return file_; }
  // Output channels at a features index.
  static int64_t channels_at(int64_t index);
  // 2x2 max poolings before features index `index` (its resolution is 1/2^pools of the input).
  static int64_t pools_before(int64_t index);

 private:
  std::vector<std::pair<int64_t, Conv>> convs_;  // features index -> conv
  bool pretrained_ = false;
  std::string key_;
  std::filesystem::path file_;
};
TORCH_MODULE(Vgg19);

// Validates taps: ascending, within range, each the output of a ReLU/pool/conv.
void check_vgg_taps(const std::vector<int64_t>& taps, const std::string& key);

}  // namespace dmgn::nn
