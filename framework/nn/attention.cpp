#include "nn/attention.h"

#include <fmt/format.h>

#include "core/dtype.h"
#include "core/error.h"

namespace dmgn::nn {

SeparatorImpl::SeparatorImpl(int64_t c) {
  conv1_ = register_module("conv1", Conv(ConvOptions(c, c, 3)));
  conv2_ = register_module("conv2", Conv(ConvOptions(c, c, 3)));
  mask1_ = register_module("mask1", Conv(ConvOptions(c, c, 1)));
  mask2_ = register_module("mask2", Conv(ConvOptions(c, 1, 1)));
}

SeparatorOutput SeparatorImpl::forward(const torch::Tensor& f) {
  auto out = torch::relu(conv2_->forward(torch::relu(conv1_->forward(f))));
  auto a = torch::sigmoid(mask2_->forward(torch::tanh(mask1_->forward(out))));  // Eq. 2
  return {out * a, out * (1 - a), a};
}

AcaImpl::AcaImpl(int64_t c, int64_t reduction, int64_t kernel, int64_t stride, int64_t pad) {
  if (reduction < 1) throw ConfigError("config key 'model.aca.reduction' must be >= 1");
  const int64_t hidden = std::max<int64_t>(1, c / reduction);
  fconv_ = register_module(
      "fconv", Conv(ConvOptions(c, c, kernel).stride(stride).pad(pad).groups(c).bias(false)));
  sharp_ = register_module("sharp", Conv(ConvOptions(c, c, 1).groups(c).bias(false)));
  fc1_ = register_module("fc1", Linear(c, hidden, false));
  fc2_ = register_module("fc2", Linear(hidden, c, false));
}

torch::Tensor AcaImpl::forward(const torch::Tensor& x, double sign) {
  const auto n = x.size(0), c = x.size(1);
  auto feat = torch::relu(fconv_->forward(x));                  // f_conv (Eq. 7)
  feat = feat * torch::sigmoid(sharp_->forward(feat));          // sigma(w_i f) * f (Eq. 7)
  auto squeezed = feat.mean({2, 3});                            // SE squeeze
  auto a = torch::sigmoid(fc2_->forward(torch::relu(fc1_->forward(squeezed))));  // Eq. 8
  return x * (a * sign).view({n, c, 1, 1});                     // Eq. 6 sign for E_r
}

NdmImpl::NdmImpl(int64_t c, NdmNormalise normalise) : normalise_(normalise) {
  conv1_ = register_module("conv1", Conv(ConvOptions(2 * c, c, 3)));
  conv2_ = register_module("conv2", Conv(ConvOptions(c, c, 3)));
  mask1_ = register_module("mask1", Conv(ConvOptions(c, c, 1).bias(false)));
  mask2_ = register_module("mask2", Conv(ConvOptions(c, 1, 1).bias(false)));
}

torch::Tensor NdmImpl::forward(const torch::Tensor& f_input, const torch::Tensor& f_noise) {
  auto h = torch::cat({f_input, f_noise}, 1);
  h = torch::relu(conv2_->forward(torch::relu(conv1_->forward(h))));
  // Eq. 9; the sigmoid in fp32 so that A_r keeps its resolution near 0 and 1 under bf16.
  auto a_r = torch::sigmoid(at_least_fp32(mask2_->forward(torch::tanh(mask1_->forward(h)))));
  return normalise_map(a_r, normalise_);
}

torch::Tensor normalise_map(const torch::Tensor& a_in, NdmNormalise mode) {
  // The official code divides by (max - mean) with no guard; a constant map would give
  // 0/0, so the denominator is clamped at 1e-12 (no effect otherwise). fp32: see the header.
  const auto a = at_least_fp32(a_in);
  switch (mode) {
    case NdmNormalise::none: return a;
    case NdmNormalise::batch: {
      auto mean = a.mean(), mx = a.max();
      return (a - mean) / (mx - mean).clamp_min(1e-12);
    }
    case NdmNormalise::sample: {
      auto flat = a.flatten(1);
      auto mean = flat.mean(1).view({-1, 1, 1, 1});
      auto mx = std::get<0>(flat.max(1)).view({-1, 1, 1, 1});
      return (a - mean) / (mx - mean).clamp_min(1e-12);
    }
  }
  return a;
}

NdmNormalise ndm_normalise_from_string(const std::string& s, const std::string& key) {
  if (s == "batch") return NdmNormalise::batch;
  if (s == "sample") return NdmNormalise::sample;
  if (s == "none") return NdmNormalise::none;
  throw ConfigError(fmt::format("config key '{}': '{}' is not one of batch, sample, none", key, s));
}

BlockRegistry& blocks() {
  static BlockRegistry registry("block");
  return registry;
}

}  // namespace dmgn::nn
