#include "nn/head.h"

namespace dmgn::nn {

HypercolumnHead::HypercolumnHead(const Config& cfg, int64_t channels) {
  taps_ = cfg.get_ints("taps");
  check_vgg_taps(taps_, cfg.prefix() + ".taps");
  vgg_ = register_module("vgg", Vgg19());
  int64_t in = 3;
  for (auto t : taps_) in += Vgg19Impl::channels_at(t);
  conv1_ = register_module("conv1", Conv(ConvOptions(in, channels, 3)));
  conv2_ = register_module("conv2", Conv(ConvOptions(channels, channels, 3)));
}

torch::Tensor HypercolumnHead::forward(const torch::Tensor& image) {
  const auto h = image.size(2), w = image.size(3);
  std::vector<torch::Tensor> parts{image};
  {
    // The official head detaches the VGG features: no gradient flows through the VGG.
    torch::NoGradGuard no_grad;
    for (auto& f : vgg_->forward(image, taps_)) parts.push_back(resize_bilinear(f, h, w, false));
  }
  auto x = torch::cat(parts, 1);
  return torch::relu(conv2_->forward(torch::relu(conv1_->forward(x))));
}

HeadRegistry& heads() {
  static HeadRegistry registry("head");
  return registry;
}

}  // namespace dmgn::nn
