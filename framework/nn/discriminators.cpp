#include "nn/discriminators.h"

#include <fmt/format.h>

#include <map>

#include "core/error.h"

namespace dmgn::nn {
namespace {

enum class Norm { batch, instance, none };

Norm norm_from(const std::string& s) {
  if (s == "batch") return Norm::batch;
  if (s == "instance") return Norm::instance;
  if (s == "none") return Norm::none;
  throw ConfigError(
      fmt::format("config key 'discriminator.norm': '{}' is not one of batch, instance, none", s));
}

}  // namespace

PatchGan::PatchGan(const Config& cfg, bool conditional) : conditional_(conditional) {
  const int64_t ndf = cfg.get_int("ndf"), n_layers = cfg.get_int("layers");
  if (ndf < 1 || n_layers < 1)
    throw ConfigError("config keys 'discriminator.ndf' and 'discriminator.layers' must be >= 1");
  const Norm norm = norm_from(cfg.get_string("norm"));
  const bool bias = norm != Norm::batch;  // pix2pix: no conv bias before BatchNorm
  body_ = register_module("body", torch::nn::Sequential());
  auto add_norm = [&](int64_t c) {
    if (norm == Norm::batch) body_->push_back(torch::nn::BatchNorm2d(c));
    if (norm == Norm::instance) body_->push_back(torch::nn::InstanceNorm2d(c));
  };
  auto lrelu = [&] {
    body_->push_back(torch::nn::LeakyReLU(torch::nn::LeakyReLUOptions().negative_slope(0.2)));
  };
  body_->push_back(Conv(ConvOptions(conditional ? 6 : 3, ndf, 4).stride(2).pad(1).mode(Pad::zero)));
  lrelu();
  int64_t mult = 1;
  for (int64_t n = 1; n < n_layers; ++n) {
    const int64_t prev = mult;
    mult = std::min<int64_t>(int64_t(1) << n, 8);
    body_->push_back(Conv(ConvOptions(ndf * prev, ndf * mult, 4).stride(2).pad(1).bias(bias).mode(Pad::zero)));
    add_norm(ndf * mult);
    lrelu();
  }
  const int64_t prev = mult;
  mult = std::min<int64_t>(int64_t(1) << n_layers, 8);
  body_->push_back(Conv(ConvOptions(ndf * prev, ndf * mult, 4).stride(1).pad(1).bias(bias).mode(Pad::zero)));
  add_norm(ndf * mult);
  lrelu();
  body_->push_back(Conv(ConvOptions(ndf * mult, 1, 4).stride(1).pad(1).mode(Pad::zero)));

  // pix2pix init_weights('normal', 0.02).
  torch::NoGradGuard guard;
  for (auto& item : named_parameters()) {
    const std::string& name = item.key();
    torch::Tensor& p = item.value();
    const bool is_norm_weight = p.dim() == 1 && name.find("weight") != std::string::npos;
    if (p.dim() == 4) p.normal_(0.0, 0.02);
    else if (is_norm_weight) p.normal_(1.0, 0.02);
    else p.zero_();
  }
}

torch::Tensor PatchGan::forward(const torch::Tensor& b, const torch::Tensor& i) {
  if (!conditional_) return body_->forward(b);
  TORCH_CHECK(i.defined(), "patchgan: a conditional discriminator needs the condition (loss term 'condition')");
  return body_->forward(torch::cat({b, i}, 1));
}

DiscriminatorRegistry& discriminators() {
  static DiscriminatorRegistry registry("discriminator");
  return registry;
}

namespace {

std::map<std::string, SideNeedRule>& side_rules() {
  static std::map<std::string, SideNeedRule> rules;
  return rules;
}

}  // namespace

void register_min_side(const std::string& name, SideNeedRule rule) { side_rules()[name] = std::move(rule); }

SideNeed discriminator_min_side(const std::string& name, const Config& table) {
  const auto it = side_rules().find(name);
  return it == side_rules().end() ? SideNeed{} : it->second(table);
}

SideNeed patchgan_min_side(const Config& table) {
  const int64_t layers = table.get_int("layers");
  return {3 * (int64_t(1) << layers),
          fmt::format("discriminator.layers = {}: its last two 4x4 convs need 3 px after {} stride-2 convs", layers,
                      layers)};
}

}  // namespace dmgn::nn
