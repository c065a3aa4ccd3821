#include "nn/layers.h"

#include <cmath>

#include "metrics/macs.h"

namespace dmgn::nn {

namespace F = torch::nn::functional;

ConvImpl::ConvImpl(const ConvOptions& options) : opt_(options) {
  pad_ = opt_.pad_ >= 0 ? opt_.pad_ : opt_.dilation_ * (opt_.kernel - 1) / 2;
  weight = register_parameter(
      "weight", torch::empty({opt_.out, opt_.in / opt_.groups_, opt_.kernel, opt_.kernel}));
  if (opt_.bias_) bias = register_parameter("bias", torch::empty({opt_.out}));
  reset_parameters();
}

// PyTorch's nn.Conv2d default: kaiming_uniform_(a = sqrt(5)), bias U(-1/sqrt(fan_in), ..).
void ConvImpl::reset_parameters() {
  torch::NoGradGuard guard;
  torch::nn::init::kaiming_uniform_(weight, std::sqrt(5.0));
  if (bias.defined()) {
    const double fan_in = static_cast<double>(weight.size(1) * weight.size(2) * weight.size(3));
    const double bound = 1.0 / std::sqrt(fan_in);
    bias.uniform_(-bound, bound);
  }
}

torch::Tensor ConvImpl::forward(const torch::Tensor& x) {
  torch::Tensor in = x;
  int64_t conv_pad = 0;
  if (pad_ > 0) {
    if (opt_.mode_ == Pad::reflect)
      in = reflect_pad(x, pad_);
    else
      conv_pad = pad_;
  }
  auto y = torch::conv2d(in, weight, bias, {opt_.stride_, opt_.stride_}, {conv_pad, conv_pad},
                         {opt_.dilation_, opt_.dilation_}, opt_.groups_);
  if (metrics::counting())
    metrics::count_macs(static_cast<uint64_t>(y.numel()) *
                        static_cast<uint64_t>(opt_.in / opt_.groups_ * opt_.kernel * opt_.kernel));
  return y;
}

LinearImpl::LinearImpl(int64_t in, int64_t out, bool with_bias) : in_(in), out_(out) {
  weight = register_parameter("weight", torch::empty({out, in}));
  if (with_bias) bias = register_parameter("bias", torch::empty({out}));
  torch::NoGradGuard guard;
  torch::nn::init::kaiming_uniform_(weight, std::sqrt(5.0));
  if (bias.defined()) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(in));
    bias.uniform_(-bound, bound);
  }
}

torch::Tensor LinearImpl::forward(const torch::Tensor& x) {
  auto y = torch::linear(x, weight, bias);
  if (metrics::counting()) metrics::count_macs(static_cast<uint64_t>(y.numel() * in_));
  return y;
}

torch::Tensor reflect_pad(const torch::Tensor& x, int64_t p) {
  if (p <= 0) return x;
  if (!x.is_cuda() || x.dim() != 4) return torch::reflection_pad2d(x, {p, p, p, p});
  return reflect_pad_by_copies(x, p);
}

torch::Tensor reflect_pad_by_copies(const torch::Tensor& x, int64_t p) {
  TORCH_CHECK(x.dim() == 4, "reflect_pad: expected an NCHW tensor, got ", x.dim(), " dimensions");
  if (p <= 0) return x;
  const int64_t h = x.size(2), w = x.size(3);
  TORCH_CHECK(p < h && p < w, "Padding size should be less than the corresponding input dimension, but got: padding (",
              p, ", ", p, ") at dimension 3 of input ", x.sizes());
  auto out = torch::empty({x.size(0), x.size(1), h + 2 * p, w + 2 * p},
                          x.options().memory_format(x.suggest_memory_format()));
  out.narrow(2, p, h).narrow(3, p, w).copy_(x);
  // Rows above and below, within the interior columns: out row p-1-k = x row k+1, out row
  // p+h+k = x row h-2-k (k = 0..p-1).
  auto rows = out.narrow(3, p, w);
  const auto mirror = [p](const torch::Tensor& t, int64_t dim) { return p == 1 ? t : t.flip({dim}); };
  rows.narrow(2, 0, p).copy_(mirror(x.narrow(2, 1, p), 2));
  rows.narrow(2, p + h, p).copy_(mirror(x.narrow(2, h - 1 - p, p), 2));
  // Columns left and right over the full padded height (corners included), from columns of out.
  out.narrow(3, 0, p).copy_(mirror(out.narrow(3, p + 1, p), 3));
  out.narrow(3, p + w, p).copy_(mirror(out.narrow(3, w - 1, p), 3));
  return out;
}

ParamCount count_parameters(const torch::nn::Module& module) {
  ParamCount c;
  for (const auto& p : module.parameters()) {
    c.total += p.numel();
    if (p.requires_grad()) c.trainable += p.numel();
  }
  return c;
}

torch::Tensor resize_bilinear(const torch::Tensor& x, int64_t h, int64_t w, bool align_corners) {
  return F::interpolate(x, F::InterpolateFuncOptions()
                               .size(std::vector<int64_t>{h, w})
                               .mode(torch::kBilinear)
                               .align_corners(align_corners));
}

DeconvImpl::DeconvImpl(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding,
                       int64_t output_padding)
    : out_(out), kernel_(kernel), stride_(stride), padding_(padding), output_padding_(output_padding) {
  // nn.ConvTranspose2d's layout and default init (fan_in from weight dim 1: out * k * k).
  weight = register_parameter("weight", torch::empty({in, out, kernel, kernel}));
  bias = register_parameter("bias", torch::empty({out}));
  torch::NoGradGuard g;
  torch::nn::init::kaiming_uniform_(weight, std::sqrt(5.0));
  const double bound = 1.0 / std::sqrt(static_cast<double>(out * kernel * kernel));
  bias.uniform_(-bound, bound);
}

torch::Tensor DeconvImpl::forward(const torch::Tensor& x) {
  if (metrics::counting())
    metrics::count_macs(static_cast<uint64_t>(x.numel()) * static_cast<uint64_t>(out_ * kernel_ * kernel_));
  return torch::conv_transpose2d(x, weight, bias, stride_, padding_, output_padding_);
}

void init_normal(torch::nn::Module& m, double std) {
  torch::NoGradGuard g;
  for (auto& mod : m.modules(/*include_self=*/false)) {
    const bool layer = dynamic_cast<ConvImpl*>(mod.get()) || dynamic_cast<LinearImpl*>(mod.get()) ||
                       dynamic_cast<DeconvImpl*>(mod.get());
    if (!layer) continue;
    for (auto& p : mod->named_parameters(false)) {
      if (p.key() == "weight")
        p.value().normal_(0.0, std);
      else if (p.key() == "bias")
        p.value().zero_();
    }
  }
}

}  // namespace dmgn::nn
