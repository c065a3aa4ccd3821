#include "systems/location_sirr/sirr_blocks.h"

#include <fmt/format.h>

#include "core/error.h"
#include "metrics/macs.h"

namespace dmgn::nn {

ConvActImpl::ConvActImpl(int64_t in, int64_t out, bool bias, const std::string& act) {
  conv_ = register_module("conv2d", Conv(ConvOptions(in, out, 3).bias(bias).mode(Pad::zero)));
  if (act == "prelu")
    prelu_ = register_module("act", torch::nn::PReLU(torch::nn::PReLUOptions().num_parameters(1).init(0.25)));
  else if (act == "relu")
    relu_ = true;
  else if (!act.empty())
    throw ConfigError(fmt::format("activation '{}': expected relu or prelu", act));
}

torch::Tensor ConvActImpl::forward(const torch::Tensor& x) {
  auto y = conv_->forward(x);
  if (prelu_) return prelu_->forward(y);
  return relu_ ? torch::relu(y) : y;
}

int64_t MlsmOptions::out_channels() const {
  return channels * (op == MlsmOperator::edge ? 2 : 1) * static_cast<int64_t>(scales.size());
}

torch::Tensor mlsm_initial_kernel(MlsmOperator op, int64_t channels) {
  if (op == MlsmOperator::laplacian) {
    const auto k = torch::tensor({0.f, -1.f, 0.f, -1.f, 4.f, -1.f, 0.f, -1.f, 0.f}).view({1, 1, 3, 3});
    return k.repeat({channels, 1, 1, 1});
  }
  // Forward differences: d/dx = x[j+1] - x[j], d/dy = x[i+1] - x[i] (cross-correlation).
  const auto dx = torch::tensor({0.f, 0.f, 0.f, 0.f, -1.f, 1.f, 0.f, 0.f, 0.f}).view({1, 1, 3, 3});
  const auto dy = torch::tensor({0.f, 0.f, 0.f, 0.f, -1.f, 0.f, 0.f, 1.f, 0.f}).view({1, 1, 3, 3});
  return torch::cat({dx, dy}).repeat({channels, 1, 1, 1});
}

MlsmImpl::MlsmImpl(const MlsmOptions& o) : o_(o) {
  if (o_.scales.empty()) throw ConfigError("the multi-scale Laplacian submodule needs at least one scale");
  for (const auto s : o_.scales)
    if (s < 1) throw ConfigError(fmt::format("multi-scale Laplacian scale {}: must be at least 1", s));
  torch::Tensor k = mlsm_initial_kernel(o_.op, o_.channels);
  if (o_.init == KernelInit::random) k = torch::randn(k.sizes()) * 0.02;  // RKI (Table 2)
  kernel = register_parameter("kernel", k, o_.learnable);
}

torch::Tensor MlsmImpl::forward(const torch::Tensor& x) {
  const int64_t h = x.size(2), w = x.size(3);
  const auto filter = [&](const torch::Tensor& in) {
    auto y = torch::conv2d(in, kernel, {}, 1, 1, 1, o_.channels);
    if (metrics::counting()) metrics::count_macs(static_cast<uint64_t>(y.numel()) * 9);
    return y;
  };
  std::vector<torch::Tensor> parts;
  for (const auto s : o_.scales) {
    if (s == 1) {
      parts.push_back(filter(x));
      continue;
    }
    TORCH_CHECK(h % s == 0 && w % s == 0, "multi-scale Laplacian: input ", h, "x", w,
                " is not divisible by the scale ", s);
    const auto down = resize_bilinear(x, h / s, w / s, false);  // Eq. 4: X_s
    parts.push_back(resize_bilinear(filter(down), h, w, false));  // U_s(L_ap(X_s))
  }
  return parts.size() == 1 ? parts[0] : torch::cat(parts, 1);
}

SeLayerImpl::SeLayerImpl(int64_t channels, int64_t reduction) {
  if (reduction < 1 || channels % reduction != 0)
    throw ConfigError(fmt::format("SE reduction {} must divide the {} channels", reduction, channels));
  // Reference names: se_layer.se.0 (C -> C/r, ReLU) and se_layer.se.2 (C/r -> C, sigmoid).
  auto seq = register_module("se", std::make_shared<torch::nn::Module>());
  fc1_ = seq->register_module("0", Linear(channels, channels / reduction));
  fc2_ = seq->register_module("2", Linear(channels / reduction, channels));
}

torch::Tensor SeLayerImpl::forward(const torch::Tensor& x) {
  const auto y = x.mean({2, 3});  // GAP
  const auto a = torch::sigmoid(fc2_->forward(torch::relu(fc1_->forward(y))));
  return x * a.view({x.size(0), x.size(1), 1, 1});
}

SeResBlockImpl::SeResBlockImpl(int64_t channels, int64_t reduction, double res_scale, const std::string& act)
    : res_scale_(res_scale) {
  conv1_ = register_module("conv1", ConvAct(channels, channels, false, act));
  conv2_ = register_module("conv2", ConvAct(channels, channels, false, ""));
  se_ = register_module("se_layer", SeLayer(channels, reduction));
}

torch::Tensor SeResBlockImpl::forward(const torch::Tensor& x) {
  return x + se_->forward(conv2_->forward(conv1_->forward(x))) * res_scale_;
}

CbamLayerImpl::CbamLayerImpl(int64_t channels, int64_t reduction) {
  if (reduction < 1 || channels % reduction != 0)
    throw ConfigError(fmt::format("CBAM reduction {} must divide the {} channels", reduction, channels));
  auto ca = register_module("channel_layer", std::make_shared<torch::nn::Module>());
  fc1_ = ca->register_module("fc_1", Conv(ConvOptions(channels, channels / reduction, 1).bias(false).mode(Pad::zero)));
  fc2_ = ca->register_module("fc_2", Conv(ConvOptions(channels / reduction, channels, 1).bias(false).mode(Pad::zero)));
  auto sa = register_module("spatial_layer", std::make_shared<torch::nn::Module>());
  spatial_ = sa->register_module("conv", Conv(ConvOptions(2, 1, 7).bias(false).mode(Pad::zero)));
}

torch::Tensor CbamLayerImpl::forward(const torch::Tensor& x) {
  const auto mlp = [&](const torch::Tensor& p) { return fc2_->forward(torch::relu(fc1_->forward(p))); };
  const auto avg = x.mean({2, 3}, true);
  const auto mx = x.amax({2, 3}, true);
  const auto y = x * torch::sigmoid(mlp(avg) + mlp(mx));  // channel attention
  const auto pooled = torch::cat({y.mean(1, true), std::get<0>(y.max(1, true))}, 1);
  return y * torch::sigmoid(spatial_->forward(pooled));  // spatial attention
}

CbamResBlockImpl::CbamResBlockImpl(int64_t channels, int64_t reduction) {
  conv1_ = register_module("conv1", ConvAct(channels, channels, false, "relu"));
  conv2_ = register_module("conv2", ConvAct(channels, channels, false, ""));
  cbam_ = register_module("cbam_layer", CbamLayer(channels, reduction));
}

torch::Tensor CbamResBlockImpl::forward(const torch::Tensor& x) {
  return x + cbam_->forward(conv2_->forward(conv1_->forward(x)));
}

ConvLstmCellImpl::ConvLstmCellImpl(int64_t in, int64_t hidden) : hidden_(hidden) {
  for (const char* name : {"conv_i", "conv_f", "conv_g", "conv_o"}) {
    auto seq = register_module(name, std::make_shared<torch::nn::Module>());
    gates_.push_back(seq->register_module("0", Conv(ConvOptions(in + hidden, hidden, 3).mode(Pad::zero))));
  }
}

LstmState ConvLstmCellImpl::forward(const torch::Tensor& x, const LstmState& state) {
  LstmState s = state;
  if (!s.h.defined()) {
    s.h = torch::zeros({x.size(0), hidden_, x.size(2), x.size(3)}, x.options());
    s.c = torch::zeros_like(s.h);
  }
  const auto z = torch::cat({x, s.h}, 1);
  const auto i = torch::sigmoid(gates_[0]->forward(z));
  const auto f = torch::sigmoid(gates_[1]->forward(z));
  const auto g = torch::tanh(gates_[2]->forward(z));
  const auto o = torch::sigmoid(gates_[3]->forward(z));
  LstmState next;
  next.c = f * s.c + i * g;
  next.h = o * torch::tanh(next.c);
  return next;
}

}  // namespace dmgn::nn
