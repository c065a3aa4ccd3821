#pragma once
// ERRNet (Wei et al., "Single Image Reflection Removal Exploiting Misaligned Training Data and
// Network Enhancements", CVPR 2019; Vandermode/ERRNet): DRNet (systems/errnet/drnet.h) on the
// image concatenated with its frozen VGG-19 hypercolumn, as ERRNetModel.forward computes it:
//   F = VGG-19 features after features[1, 6, 11, 20, 29] (relu1_1 .. relu5_1, 1472 channels) of
//       the image as it is (in [0, 1], not ImageNet-normalised), each bilinearly resized
//       (align_corners = false) to the input size, detached;
//   T = DRNet(concat[I, F])                         (3 + 1472 = 1475 input channels)
// Images in [0, 1] (the reference's range). model.hypercolumn = false feeds DRNet the image
// alone (3 channels; the paper's ablation without the hypercolumn). The VGG-19 is held either way:
// the perceptual loss shares it (shared_vgg), as the reference's VGGLoss shares self.vgg.
// Parameter names: DRNet's at the top level as the reference's state_dict names them
// (conv1.conv2d.weight, res_module.0.se_layer.fc.0.weight, ...), the VGG-19 as "vgg.<features
// index>.weight" (frozen, not trainable). import_reference loads a state dict with both (as
// tools/errnet_parity.py writes it; the reference's own name vgg_pretrained_features.<i> is
// accepted too) or DRNet's alone (the 'icnn' entry of a released checkpoint), keeping our VGG-19.
#include "models/model.h"
#include "nn/vgg.h"
#include "systems/errnet/drnet.h"

namespace dmgn::models {

class ErrNet : public Model {
 public:
  explicit ErrNet(const Config& cfg);
  // "background": T, the transmission layer DRNet estimates (the reference's output_i).
  Outputs forward(const torch::Tensor& input) override;
  nn::Vgg19 shared_vgg() const override { return vgg_; }
  // DRNet's parameters and the frozen VGG-19's, as `dmgn info` prints them.
  std::vector<std::pair<std::string, int64_t>> parameter_sections() const override;
  // By name (models/import.h); see the top for what is accepted.
  int64_t import_reference(const std::map<std::string, torch::Tensor>& state, const std::string& source) override;
  // The network's input for an image: concat[I, hypercolumn] (or I without the hypercolumn).
  torch::Tensor network_input(const torch::Tensor& image);
  bool hypercolumn() const { return hypercolumn_; }

 private:
  bool hypercolumn_ = true;
  std::vector<int64_t> taps_;
  nn::Vgg19 vgg_{nullptr};
  errnet::DrNetLayers drnet_;
};

// The smallest input: even sides (conv3's stride 2 and deconv1's x2 give 2 * ceil(H/2)), at
// least 32 px with the pyramid pooling (its AvgPool2d(32) runs at full resolution, after
// deconv1), 16 px for the hypercolumn's relu5_1 (four 2x2 poolings), 2 px otherwise.
InputRequirement errnet_input_requirement(const Config& cfg);

}  // namespace dmgn::models
