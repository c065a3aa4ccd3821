#pragma once
// ERRNet's discriminator (Vandermode/ERRNet models/networks.py Discriminator_VGG, which_model_D
// 'disc_vgg'), registered as discriminator "disc_vgg": an unconditioned critic on the image alone
// (the condition passed to forward() is ignored and may be undefined), one score per image.
//   body  3x3 convs, padding 1, widths w = ndf x (1, 1, 2, 2, 4, 4, 8, 8, 8, 8), every second
//         one stride 2 (five stride-2 levels); GroupNorm after every conv but the first;
//         LeakyReLU 0.2 after each
//   tail  AdaptiveAvgPool2d(1), 1x1 conv 8 ndf -> 16 ndf, LeakyReLU 0.2, 1x1 conv -> 1 (no sigmoid:
//         the RaSGAN loss takes logits)
// ndf (discriminator.ndf) = 64 is the reference: 64-64-128-128-256-256-512-512-512-512, tail
// 512 -> 1024 -> 1, 32 groups per GroupNorm, 9,937,089 parameters. Other widths (reduced-scale
// runs) use gcd(32, width) groups, 32 wherever the width is a multiple of 32. Init as define_D
// does for it: kaiming_normal_ (fan_in, a = 0) on the conv weights, PyTorch's defaults on the
// biases, GroupNorm weight 1 and bias 0. Parameter names are the reference's (body.<i>, tail.<i>),
// so its state dicts load by name (dmgn parity's discriminator_state_dict.pth).
// Only discriminator.ndf is read; the recipe's layers and norm keys do not apply to it.
#include <torch/torch.h>

#include "core/config.h"
#include "nn/discriminators.h"

namespace dmgn::models::errnet {

class DiscVgg : public nn::Discriminator {
 public:
  // cfg: the [discriminator] table (ndf).
  explicit DiscVgg(const Config& cfg);
  explicit DiscVgg(int64_t ndf);
  // N x 1 x 1 x 1 logits of `b` (`i` is ignored).
  torch::Tensor forward(const torch::Tensor& b, const torch::Tensor& i) override;

 private:
  torch::nn::Sequential body_{nullptr}, tail_{nullptr};
};

// Its smallest side: any (3x3 stride-2 convs with padding 1 give ceil(H/2) >= 1, and the tail
// pools globally), said as such so that training requirements name it.
nn::SideNeed disc_vgg_min_side(const Config& table);

// Registers "disc_vgg" and its side rule (systems/errnet/register.cpp).
void register_disc_vgg();

}  // namespace dmgn::models::errnet
