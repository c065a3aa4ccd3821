#include "nn/vgg.h"

#include <fmt/format.h>
#include <fmt/ranges.h>  // fmt::join (its home since fmt 11)

#include <algorithm>
#include <fstream>
#include <map>

#include "core/compat.h"
#include "core/error.h"

namespace dmgn::nn {
namespace {

// torchvision vgg19 cfg "E": channel counts, 'M' = max pool.
constexpr int kCfg[] = {64, 64, -1, 128, 128, -1, 256, 256, 256, 256, -1,
                        512, 512, 512, 512, -1, 512, 512, 512, 512, -1};

enum class Kind { conv, relu, pool };
struct Layer {
  Kind kind;
  int64_t channels;  // output channels
};

const std::vector<Layer>& layers() {
  static const std::vector<Layer> l = [] {
    std::vector<Layer> out;
    int64_t c = 3;
    for (int v : kCfg) {
      if (v < 0) {
        out.push_back({Kind::pool, c});
      } else {
        out.push_back({Kind::conv, v});
        out.push_back({Kind::relu, v});
        c = v;
      }
    }
    return out;
  }();
  return l;
}

}  // namespace

Vgg19Impl::Vgg19Impl() {
  int64_t c = 3;
  const auto& ls = layers();
  for (size_t i = 0; i < ls.size(); ++i) {
    if (ls[i].kind != Kind::conv) continue;
    auto conv = Conv(ConvOptions(c, ls[i].channels, 3).mode(Pad::zero));
    // torchvision's VGG init: kaiming_normal_(fan_out, relu), zero bias.
    {
      torch::NoGradGuard g;
      torch::nn::init::kaiming_normal_(conv->weight, 0.0, torch::kFanOut, torch::kReLU);
      conv->bias.zero_();
    }
    convs_.emplace_back(static_cast<int64_t>(i), register_module(std::to_string(i), conv));
    c = ls[i].channels;
  }
  for (auto& p : parameters()) p.set_requires_grad(false);
}

int64_t Vgg19Impl::channels_at(int64_t index) {
  const auto& ls = layers();
  if (index < 0 || index >= static_cast<int64_t>(ls.size()))
    throw ConfigError(fmt::format("VGG-19 features index {} out of range [0, {}]", index,
                                  ls.size() - 1));
  return ls[static_cast<size_t>(index)].channels;
}

int64_t Vgg19Impl::pools_before(int64_t index) {
  channels_at(index);  // validates the index
  const auto& ls = layers();
  return std::count_if(ls.begin(), ls.begin() + index, [](const Layer& l) { return l.kind == Kind::pool; });
}

void check_vgg_taps(const std::vector<int64_t>& taps, const std::string& key) {
  if (taps.empty()) throw ConfigError(fmt::format("config key '{}': needs at least one tap", key));
  for (size_t i = 0; i < taps.size(); ++i) {
    if (taps[i] < 0 || taps[i] >= static_cast<int64_t>(layers().size()))
      throw ConfigError(fmt::format("config key '{}': VGG-19 features index {} out of range [0, {}]",
                                    key, taps[i], layers().size() - 1));
    if (i && taps[i] <= taps[i - 1])
      throw ConfigError(fmt::format("config key '{}': taps must be strictly ascending", key));
  }
}

std::vector<torch::Tensor> Vgg19Impl::forward(const torch::Tensor& x,
                                              const std::vector<int64_t>& taps) {
  std::vector<torch::Tensor> out;
  out.reserve(taps.size());
  const auto& ls = layers();
  size_t next_tap = 0, next_conv = 0;
  torch::Tensor h = x;
  for (int64_t i = 0; next_tap < taps.size(); ++i) {
    switch (ls[static_cast<size_t>(i)].kind) {
      case Kind::conv: h = convs_[next_conv++].second->forward(h); break;
      case Kind::relu: h = torch::relu(h); break;
      case Kind::pool: h = torch::max_pool2d(h, {2, 2}, {2, 2}); break;
    }
    if (taps[next_tap] == i) {
      out.push_back(h);
      ++next_tap;
    }
  }
  return out;
}

void Vgg19Impl::load_weights(const std::filesystem::path& file) {
  if (!std::filesystem::exists(file))
    throw IoError(fmt::format("VGG-19 weights file '{}' does not exist ({})", file.string(),
                              key_.empty() ? "the VGG-19 weights key" : key_));
  const auto dict = compat::load_state_dict(file);
  auto find = [&](const std::string& key) -> const torch::Tensor* {
    for (const std::string prefix : {"", "features.", "vgg_pretrained_features.", "module.features."}) {
      auto it = dict.find(prefix + key);
      if (it != dict.end()) return &it->second;
    }
    return nullptr;
  };
  torch::NoGradGuard guard;
  for (auto& [index, conv] : convs_) {
    for (const char* what : {"weight", "bias"}) {
      const std::string key = fmt::format("{}.{}", index, what);
      const torch::Tensor* t = find(key);
      if (!t)
        throw DataError(fmt::format("VGG-19 weights file '{}' has no '{}' (expected a state dict of "
                                    "torchvision vgg19().features)",
                                    file.string(), key));
      auto& dst = std::string(what) == "weight" ? conv->weight : conv->bias;
      if (t->sizes() != dst.sizes())
        throw DataError(fmt::format("VGG-19 weights file '{}': '{}' has shape {}, expected {}",
                                    file.string(), key, fmt::join(t->sizes(), "x"),
                                    fmt::join(dst.sizes(), "x")));
      dst.copy_(t->to(torch::kFloat32));
    }
  }
  pretrained_ = true;
  file_ = file;
}

}  // namespace dmgn::nn
