#include "nn/head.h"

#include <fmt/format.h>

#include <algorithm>
#include <numeric>

#include "core/error.h"
#include "metrics/macs.h"
#include "nn/polyphase.h"

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

namespace {

// The integer factor by which f is smaller than h x w in both dimensions, or 0 when it is not
// one (>= 2) exactly.
int64_t exact_scale(const torch::Tensor& f, int64_t h, int64_t w) {
  const int64_t fh = f.size(2), fw = f.size(3);
  if (fh <= 0 || fw <= 0 || h % fh != 0 || w % fw != 0 || h / fh != w / fw || h / fh < 2) return 0;
  return h / fh;
}

int64_t reflect_index(int64_t q, int64_t n) { return q < 0 ? -q : (q >= n ? 2 * (n - 1) - q : q); }

}  // namespace

const HypercolumnHead::TapPlan& HypercolumnHead::plan_for(int64_t h, int64_t w, const std::vector<int64_t>& scales,
                                                          const torch::Tensor& weight) {
  const PlanKey key{h, w, static_cast<int>(weight.device().type()), weight.device().index(),
                    static_cast<int>(weight.scalar_type())};
  const std::lock_guard<std::mutex> lock(plans_mutex_);
  auto it = plans_.find(key);
  if (it != plans_.end()) return it->second;
  // Ordinary tensors even when the first forward runs under c10::InferenceMode: the plan is
  // used again by forwards that record gradients.
  const c10::InferenceMode not_inference(false);
  const auto& o = conv1_->options();
  const int64_t k = o.kernel, pad = conv1_->padding(), dil = o.dilation_;
  TapPlan plan;
  for (int64_t s : scales) {
    auto b = polyphase_basis(s, k, dil, pad);
    plan.mix.emplace(s, polyphase_mix(b).to(weight.device(), weight.scalar_type()));
    plan.basis.emplace(s, std::move(b));
  }
  // The border lines that the polyphase convs get wrong (their taps reach into the reflection
  // padding), each side with the full-resolution lines its exact conv reads.
  const int64_t count = std::min<int64_t>(pad, std::min(h, w));
  for (const auto& [dim, first] : std::vector<std::pair<int64_t, int64_t>>{
           {2, 0}, {2, h - count}, {3, 0}, {3, w - count}}) {
    BorderSide side{dim, first, count, {}, {}, {}};
    const int64_t n = dim == 2 ? h : w;
    std::vector<int64_t> lines;
    for (int64_t q = first - pad; q < first + count + pad; ++q) lines.push_back(reflect_index(q, n));
    side.index = torch::tensor(lines, torch::kLong).to(weight.device());
    const int64_t m = dim == 2 ? w : h;  // the other dimension
    std::vector<int64_t> all(static_cast<size_t>(m));
    std::iota(all.begin(), all.end(), 0);
    for (int64_t s : scales) {
      side.sampling.emplace(s, line_sampling(n / s, n, lines).to(weight.device()));
      side.across.emplace(s, line_sampling(m / s, m, all).to(weight.device()));
    }
    plan.sides.push_back(std::move(side));
  }
  return plans_.emplace(key, std::move(plan)).first->second;
}

torch::Tensor HypercolumnHead::conv1_by_source(const torch::Tensor& image, const std::vector<torch::Tensor>& feats) {
  const int64_t h = image.size(2), w = image.size(3);
  const torch::Tensor& weight = conv1_->weight;  // [out, 3 + sum of feature channels, k, k]
  const int64_t pad = conv1_->padding(), dil = conv1_->options().dilation_;

  // Sources in the weight's channel order: full resolution (s = 1: the image, features at the
  // input size or at a size that is no exact fraction of it, resized) or 1/s of it (s >= 2).
  struct Source {
    torch::Tensor t, w;
    int64_t s;
  };
  std::vector<Source> sources{{image, weight.narrow(1, 0, image.size(1)), 1}};
  int64_t offset = image.size(1);
  std::vector<int64_t> scales;
  for (const auto& f : feats) {
    const auto wf = weight.narrow(1, offset, f.size(1));
    offset += f.size(1);
    const int64_t s = exact_scale(f, h, w);
    if (s >= 2) {
      sources.push_back({f, wf, s});
      if (std::find(scales.begin(), scales.end(), s) == scales.end()) scales.push_back(s);
    } else if (f.size(2) == h && f.size(3) == w) {
      sources.push_back({f, wf, 1});
    } else {
      torch::NoGradGuard no_grad;
      sources.push_back({resize_bilinear(f, h, w, false), wf, 1});
    }
  }
  std::vector<torch::Tensor> direct, direct_w;
  for (const auto& src : sources)
    if (src.s == 1) {
      direct.push_back(src.t);
      direct_w.push_back(src.w);
    }
  const std::vector<int64_t> unit{1, 1}, none{0, 0}, dilation{dil, dil};
  auto y = torch::conv2d(reflect_pad(direct.size() == 1 ? direct[0] : torch::cat(direct, 1), pad),
                         direct_w.size() == 1 ? direct_w[0] : torch::cat(direct_w, 1), conv1_->bias,
                         at::IntArrayRef(unit), at::IntArrayRef(none), at::IntArrayRef(dilation));
  if (metrics::counting())  // the architecture's MACs, as conv1_->forward counts them
    metrics::count_macs(static_cast<uint64_t>(y.numel()) *
                        static_cast<uint64_t>(weight.size(1) * weight.size(2) * weight.size(3)));
  if (scales.empty()) return y;
  const TapPlan& plan = plan_for(h, w, scales, weight);
  const int64_t n = image.size(0), out = weight.size(0);
  for (const auto& src : sources)
    if (src.s >= 2)  // in place, phase by phase (y's own layout; no pixel_shuffle copy)
      y.view({n, out, h / src.s, src.s, w / src.s, src.s})
          .add_(conv_of_upsampled_phases(src.t, src.w, src.s, plan.basis.at(src.s), plan.mix.at(src.s)));
  // The border lines, exactly: the conv over the reflection-padded lines of every source.
  for (const auto& side : plan.sides) {
    std::vector<torch::Tensor> parts;
    for (const auto& src : sources)
      parts.push_back(src.s == 1 ? src.t.index_select(side.dim, side.index)
                                 : upsampled_lines(src.t, side.dim, side.sampling.at(src.s), side.across.at(src.s)));
    auto strip = torch::cat(parts, 1);
    strip = side.dim == 2 ? torch::reflection_pad2d(strip, {pad, pad, 0, 0})
                          : torch::reflection_pad2d(strip, {0, 0, pad, pad});
    const auto exact = torch::conv2d(strip, weight, conv1_->bias, at::IntArrayRef(unit), at::IntArrayRef(none),
                                     at::IntArrayRef(dilation));
    y.narrow(side.dim, side.first, side.count).copy_(exact);
  }
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
