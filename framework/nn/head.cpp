#include "nn/head.h"

#include <fmt/format.h>

#include "core/error.h"
#include "metrics/macs.h"

namespace dmgn::nn {

namespace {

// Features at 1/4 of the input size or smaller go through low-resolution taps: below that the
// 9 x 64 upsampled tap maps would move more memory than the 3x3 conv over the feature saves.
constexpr int64_t kTapScale = 4;

}  // namespace

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
  std::vector<torch::Tensor> feats;
  {
    // The official head detaches the VGG features: no gradient flows through the VGG.
    torch::NoGradGuard no_grad;
    feats = vgg_->forward(image, taps_);
  }
  const auto& o = conv1_->options();
  torch::Tensor y;
  const bool taps = taps_when_ == Taps::always ||
                    (taps_when_ == Taps::inference && !(torch::GradMode::is_enabled() && conv1_->weight.requires_grad()));
  if (taps && o.stride_ == 1 && o.groups_ == 1 && o.mode_ == Pad::reflect) {
    y = conv1_by_source(image, feats);
  } else {
    std::vector<torch::Tensor> parts{image};
    {
      torch::NoGradGuard no_grad;
      for (auto& f : feats) parts.push_back(resize_bilinear(f, h, w, false));
    }
    y = conv1_->forward(torch::cat(parts, 1));
  }
  return torch::relu(conv2_->forward(torch::relu(y)));
}

torch::Tensor HypercolumnHead::conv1_by_source(const torch::Tensor& image, const std::vector<torch::Tensor>& feats) {
  const int64_t h = image.size(2), w = image.size(3);
  const torch::Tensor& weight = conv1_->weight;  // [out, 3 + sum of feature channels, k, k]
  const int64_t out = weight.size(0), k = weight.size(2);
  const int64_t pad = conv1_->padding(), dil = conv1_->options().dilation_;

  // Direct part: the image and the features close to full resolution, one conv.
  std::vector<torch::Tensor> direct{image}, direct_w{weight.narrow(1, 0, image.size(1))};
  std::vector<std::pair<torch::Tensor, torch::Tensor>> tapped;  // (feature, its weights)
  int64_t offset = image.size(1);
  for (const auto& f : feats) {
    const int64_t c = f.size(1);
    const auto wf = weight.narrow(1, offset, c);
    offset += c;
    if (f.size(2) * kTapScale <= h && f.size(3) * kTapScale <= w) {
      tapped.emplace_back(f, wf);
    } else {
      torch::NoGradGuard no_grad;
      direct.push_back(resize_bilinear(f, h, w, false));
      direct_w.push_back(wf);
    }
  }
  const std::vector<int64_t> unit{1, 1}, none{0, 0}, dilation{dil, dil};
  auto y = torch::conv2d(reflect_pad(direct.size() == 1 ? direct[0] : torch::cat(direct, 1), pad),
                         direct_w.size() == 1 ? direct_w[0] : torch::cat(direct_w, 1), conv1_->bias,
                         at::IntArrayRef(unit), at::IntArrayRef(none), at::IntArrayRef(dilation));
  // Tapped part: per feature, the k*k tap products at its resolution, resized, shifted, summed.
  for (const auto& [f, wf] : tapped) {
    const auto taps = wf.permute({2, 3, 0, 1}).reshape({k * k * out, f.size(1), 1, 1});  // tap-major
    const auto z = reflect_pad(resize_bilinear(torch::conv2d(f, taps), h, w, false), pad);
    for (int64_t ty = 0; ty < k; ++ty)
      for (int64_t tx = 0; tx < k; ++tx)
        y.add_(z.narrow(1, (ty * k + tx) * out, out).narrow(2, ty * dil, h).narrow(3, tx * dil, w));
  }
  if (metrics::counting())  // the architecture's MACs, as conv1_->forward counts them
    metrics::count_macs(static_cast<uint64_t>(y.numel()) * static_cast<uint64_t>(weight.size(1) * k * k));
  return y;
}

Head::Taps head_taps_from_string(const std::string& s) {
  if (s == "never") return Head::Taps::never;
  if (s == "inference") return Head::Taps::inference;
  if (s == "always") return Head::Taps::always;
  throw ConfigError(fmt::format("config key 'runtime.head_taps': '{}' is not one of inference, always, never", s));
}

HeadRegistry& heads() {
  static HeadRegistry registry("head");
  return registry;
}

}  // namespace dmgn::nn
