#include "systems/errnet/disc_vgg.h"

#include <fmt/format.h>

#include <numeric>

#include "core/error.h"
#include "nn/layers.h"

namespace dmgn::models::errnet {

DiscVgg::DiscVgg(const Config& cfg) : DiscVgg(cfg.get_int("ndf")) {}

DiscVgg::DiscVgg(int64_t ndf) {
  if (ndf < 1) throw ConfigError("config key 'discriminator.ndf' must be >= 1");
  const auto lrelu = [] { return torch::nn::LeakyReLU(torch::nn::LeakyReLUOptions().negative_slope(0.2)); };
  const auto conv = [](int64_t in, int64_t out, int64_t k, int64_t stride) {
    return nn::Conv(nn::ConvOptions(in, out, k).stride(stride).pad((k - 1) / 2).mode(nn::Pad::zero));
  };
  body_ = register_module("body", torch::nn::Sequential());
  // (width multiple, stride) of the ten convs: 224 -> 112 -> 56 -> 28 -> 14 -> 7 in the reference.
  const int64_t plan[10][2] = {{1, 1}, {1, 2}, {2, 1}, {2, 2}, {4, 1}, {4, 2}, {8, 1}, {8, 2}, {8, 1}, {8, 2}};
  int64_t c = 3;
  for (int i = 0; i < 10; ++i) {
    const int64_t out = ndf * plan[i][0];
    body_->push_back(conv(c, out, 3, plan[i][1]));
    if (i > 0) body_->push_back(torch::nn::GroupNorm(torch::nn::GroupNormOptions(std::gcd<int64_t>(32, out), out)));
    body_->push_back(lrelu());
    c = out;
  }
  tail_ = register_module("tail", torch::nn::Sequential(torch::nn::AdaptiveAvgPool2d(torch::nn::AdaptiveAvgPool2dOptions(1)),
                                                        conv(c, 2 * c, 1, 1), lrelu(), conv(2 * c, 1, 1, 1)));
  // init_weights(netD, 'kaiming'): weights_init_kaiming redraws Conv2d weights only.
  torch::NoGradGuard g;
  for (auto& p : named_parameters(true))
    if (p.value().dim() == 4) torch::nn::init::kaiming_normal_(p.value(), 0.0, torch::kFanIn, torch::kLeakyReLU);
}

torch::Tensor DiscVgg::forward(const torch::Tensor& b, const torch::Tensor& /*i*/) {
  return tail_->forward(body_->forward(b));
}

nn::SideNeed disc_vgg_min_side(const Config& /*table*/) {
  return {1, "disc_vgg: 3x3 stride-2 convs with padding 1 (ceil(H/2) each) and a global average pool take any side"};
}

void register_disc_vgg() {
  nn::discriminators().add("disc_vgg",
                           "ERRNet's Discriminator_VGG on the image alone: ten 3x3 convs (five stride 2), GroupNorm, "
                           "global pool, 1x1 head; one logit per image",
                           [](const Config& c) -> nn::DiscriminatorPtr { return std::make_shared<DiscVgg>(c); });
  nn::register_min_side("disc_vgg", disc_vgg_min_side);
}

}  // namespace dmgn::models::errnet
