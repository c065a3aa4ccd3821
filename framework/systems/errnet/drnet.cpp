#include "systems/errnet/drnet.h"

namespace dmgn::models::errnet {

const std::vector<int64_t>& pyramid_scales() {
  static const std::vector<int64_t> s{4, 8, 16, 32};
  return s;
}

ConvLayerImpl::ConvLayerImpl(Kind kind, int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding,
                             bool relu)
    : relu_(relu) {
  if (kind == Kind::conv)
    conv_ = register_module(
        "conv2d", nn::Conv(nn::ConvOptions(in, out, kernel).stride(stride).pad(padding).mode(nn::Pad::zero)));
  else
    deconv_ = register_module("conv2d", nn::Deconv(in, out, kernel, stride, padding));
}

torch::Tensor ConvLayerImpl::forward(const torch::Tensor& x) {
  auto y = conv_ ? conv_->forward(x) : deconv_->forward(x);
  return relu_ ? torch::relu(y) : y;
}

SeLayerImpl::SeLayerImpl(int64_t channels, int64_t reduction) {
  const int64_t hidden = channels / reduction;  // the reference's channel // reduction
  TORCH_CHECK(hidden >= 1, "errnet SE layer: ", channels, " channels / reduction ", reduction, " leaves none");
  fc_ = register_module("fc", torch::nn::Sequential(nn::Linear(channels, hidden), torch::nn::ReLU(),
                                                    nn::Linear(hidden, channels), torch::nn::Sigmoid()));
}

torch::Tensor SeLayerImpl::forward(const torch::Tensor& x) {
  const int64_t b = x.size(0), c = x.size(1);
  // AdaptiveAvgPool2d(1) as the reference (not a mean: the same kernel, the same rounding).
  const auto y = torch::adaptive_avg_pool2d(x, {1, 1}).view({b, c});
  return x * fc_->forward(y).view({b, c, 1, 1});
}

ResidualBlockImpl::ResidualBlockImpl(int64_t channels, int64_t se_reduction, double res_scale)
    : res_scale_(res_scale) {
  using K = ConvLayerImpl::Kind;
  conv1_ = register_module("conv1", ConvLayer(K::conv, channels, channels, 3, 1, 1, true));
  conv2_ = register_module("conv2", ConvLayer(K::conv, channels, channels, 3, 1, 1, false));
  if (se_reduction > 0) se_layer_ = register_module("se_layer", SeLayer(channels, se_reduction));
}

torch::Tensor ResidualBlockImpl::forward(const torch::Tensor& x) {
  auto out = conv2_->forward(conv1_->forward(x));
  if (se_layer_) out = se_layer_->forward(out);
  out = out * res_scale_;  // in the reference's order: scale, then add the input
  return out + x;
}

PyramidPoolingImpl::PyramidPoolingImpl(int64_t in, int64_t out, const std::vector<int64_t>& scales,
                                       int64_t ct_channels) {
  stages_ = register_module("stages", torch::nn::ModuleList());
  for (const int64_t s : scales)
    stages_->push_back(torch::nn::Sequential(
        torch::nn::AvgPool2d(torch::nn::AvgPool2dOptions(s)),  // stride = kernel, no padding
        nn::Conv(nn::ConvOptions(in, ct_channels, 1).bias(false).mode(nn::Pad::zero)),
        torch::nn::LeakyReLU(torch::nn::LeakyReLUOptions().negative_slope(0.2))));
  const int64_t cat = in + static_cast<int64_t>(scales.size()) * ct_channels;
  bottleneck_ = register_module("bottleneck", nn::Conv(nn::ConvOptions(cat, out, 1).mode(nn::Pad::zero)));
}

torch::Tensor PyramidPoolingImpl::forward(const torch::Tensor& x) {
  namespace F = torch::nn::functional;
  const int64_t h = x.size(2), w = x.size(3);
  std::vector<torch::Tensor> priors;
  for (const auto& stage : *stages_) {
    const auto pooled = stage->as<torch::nn::Sequential>()->forward(x);
    priors.push_back(F::interpolate(
        pooled, F::InterpolateFuncOptions().size(std::vector<int64_t>{h, w}).mode(torch::kNearest)));
  }
  priors.push_back(x);
  return torch::leaky_relu(bottleneck_->forward(torch::cat(priors, 1)), 0.2);
}

torch::Tensor DrNetLayers::forward(const torch::Tensor& input) {
  auto x = conv3->forward(conv2->forward(conv1->forward(input)));
  if (!res_module->is_empty()) x = res_module->forward(x);  // an empty Sequential refuses forward()
  x = deconv2->forward(deconv1->forward(x));
  if (pyramid_module) x = pyramid_module->forward(x);
  return deconv3->forward(x);
}

std::vector<torch::Tensor> DrNetLayers::weights() const {
  std::vector<torch::Tensor> out;
  const std::vector<const torch::nn::Module*> parts{
      conv1.get(),   conv2.get(),   conv3.get(), res_module.get(), deconv1.get(), deconv2.get(),
      pyramid_module ? pyramid_module.get() : nullptr, deconv3.get()};
  for (const auto* m : parts) {
    if (!m) continue;
    for (const auto& p : m->named_parameters(true))
      if (p.value().dim() >= 2) out.push_back(p.value());  // conv / deconv / linear weights
  }
  return out;
}

DrNetLayers build_drnet(torch::nn::Module& owner, const DrNetOptions& o) {
  TORCH_CHECK(o.n_feats >= 1 && o.in_channels >= 1 && o.out_channels >= 1 && o.resblocks >= 0,
              "errnet DRNet: bad sizes");
  TORCH_CHECK(o.bottom_kernel >= 1 && o.bottom_kernel % 2 == 1, "errnet DRNet: the bottom kernel must be odd");
  using K = ConvLayerImpl::Kind;
  const int64_t n = o.n_feats;
  DrNetLayers l;
  // ConvLayer's padding: dilation * (k - 1) // 2 unless given (deconv1's 1).
  l.conv1 = owner.register_module("conv1", ConvLayer(K::conv, o.in_channels, n, o.bottom_kernel, 1,
                                                     (o.bottom_kernel - 1) / 2, true));
  l.conv2 = owner.register_module("conv2", ConvLayer(K::conv, n, n, 3, 1, 1, true));
  l.conv3 = owner.register_module("conv3", ConvLayer(K::conv, n, n, 3, 2, 1, true));
  torch::nn::Sequential res;
  for (int64_t i = 0; i < o.resblocks; ++i) res->push_back(ResidualBlock(n, o.se_reduction, o.res_scale));
  l.res_module = owner.register_module("res_module", res);
  l.deconv1 = owner.register_module("deconv1", ConvLayer(K::deconv, n, n, 4, 2, 1, true));
  l.deconv2 = owner.register_module("deconv2", ConvLayer(K::conv, n, n, 3, 1, 1, true));
  if (o.pyramid) {
    TORCH_CHECK(n / 4 >= 1, "errnet DRNet: the pyramid pooling needs n_feats >= 4");
    l.pyramid_module = owner.register_module("pyramid_module", PyramidPooling(n, n, pyramid_scales(), n / 4));
  }
  l.deconv3 = owner.register_module("deconv3", ConvLayer(K::conv, n, o.out_channels, 1, 1, 0, true));
  return l;
}

DrNetImpl::DrNetImpl(const DrNetOptions& o) : layers_(build_drnet(*this, o)) {}

}  // namespace dmgn::models::errnet
