#pragma once
// Discriminators (registry kind "discriminator").
//   patchgan — pix2pix's N-layer PatchGAN (Isola et al. 2017) on the pair (B, I): 4x4 convs,
//              stride 2 then 1, LeakyReLU 0.2, channels ndf * min(2^n, 8), norm after every
//              conv but the first and last, one output channel per patch; pix2pix init
//              N(0, 0.02). The conditional critic of Eq. 13-14 uses its raw scores.
//   patchgan_image — the same network on the image alone (3 input channels), for
//              unconditioned critics (Location-aware SIRR's D, CycleGAN's D); the condition
//              passed to forward() is ignored and may be undefined.
#include <torch/torch.h>

#include <functional>
#include <memory>
#include <string>

#include "core/config.h"
#include "core/registry.h"
#include "nn/layers.h"

namespace dmgn::nn {

class Discriminator : public torch::nn::Module {
 public:
  // Patch scores for image `b` conditioned on input `i` (both N x 3 x H x W; `i` undefined for
  // an unconditioned discriminator).
  virtual torch::Tensor forward(const torch::Tensor& b, const torch::Tensor& i) = 0;
};
using DiscriminatorPtr = std::shared_ptr<Discriminator>;

class PatchGan : public Discriminator {
 public:
  // cfg: the [discriminator] table (ndf, layers, norm).
  explicit PatchGan(const Config& cfg, bool conditional = true);
  torch::Tensor forward(const torch::Tensor& b, const torch::Tensor& i) override;

 private:
  torch::nn::Sequential body_{nullptr};
  bool conditional_ = true;
};

using DiscriminatorRegistry = Registry<DiscriminatorPtr, const Config&>;
DiscriminatorRegistry& discriminators();

// The smallest side a discriminator takes, and why (cfg: its [discriminator] table),
// registered next to its factory (nn/builtins.cpp, or a system's register.cpp); {1, ""} for one that registered none.
struct SideNeed {
  int64_t min_side = 1;
  std::string why;
};
using SideNeedRule = std::function<SideNeed(const Config& /*[discriminator] table*/)>;
void register_min_side(const std::string& name, SideNeedRule rule);
SideNeed discriminator_min_side(const std::string& name, const Config& table);
// PatchGan's: `layers` 4x4 stride-2 convs (padding 1: floor(H/2) each), then two 4x4 convs of
// padding 1 (H - 1 each), the last needing 4 px padded: 3 px at 1/2^layers, 3 * 2^layers.
SideNeed patchgan_min_side(const Config& table);

}  // namespace dmgn::nn
