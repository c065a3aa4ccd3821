#include "systems/gcanet/gcanet.h"

#include <fmt/format.h>

#include "core/error.h"
#include "core/options.h"
#include "metrics/macs.h"

namespace dmgn::models {

namespace gcanet {

namespace {

nn::Conv conv3x3(int64_t in, int64_t out, int64_t stride, int64_t dilation, bool bias) {
  return nn::Conv(nn::ConvOptions(in, out, 3).stride(stride).dilation(dilation).bias(bias).mode(nn::Pad::zero));
}

torch::nn::InstanceNorm2d instance_norm(int64_t c) {
  return torch::nn::InstanceNorm2d(torch::nn::InstanceNorm2dOptions(c).affine(true).track_running_stats(false));
}

}  // namespace

torch::Tensor edge(const torch::Tensor& x) {
  using torch::indexing::Slice;
  const auto dx = (x.index({Slice(), Slice(), Slice(), Slice(1, torch::indexing::None)}) -
                   x.index({Slice(), Slice(), Slice(), Slice(torch::indexing::None, -1)}))
                      .abs();
  const auto dy = (x.index({Slice(), Slice(), Slice(1, torch::indexing::None), Slice()}) -
                   x.index({Slice(), Slice(), Slice(torch::indexing::None, -1), Slice()}))
                      .abs();
  auto y = torch::zeros_like(x);
  // The reference's order of the four in-place sums (left, right, up, down neighbours).
  y.index({Slice(), Slice(), Slice(), Slice(1, torch::indexing::None)}) += dx;
  y.index({Slice(), Slice(), Slice(), Slice(torch::indexing::None, -1)}) += dx;
  y.index({Slice(), Slice(), Slice(1, torch::indexing::None), Slice()}) += dy;
  y.index({Slice(), Slice(), Slice(torch::indexing::None, -1), Slice()}) += dy;
  return y.sum(1, true) / 3 / 4;
}

ShareSepConvImpl::ShareSepConvImpl(int64_t kernel) : k_(kernel) {
  if (kernel < 1 || kernel % 2 == 0) throw Error(fmt::format("ShareSepConv: kernel {} must be odd", kernel));
  auto w = torch::zeros({1, 1, kernel, kernel});
  w[0][0][kernel / 2][kernel / 2] = 1;  // the identity at init, as the reference's
  weight_ = register_parameter("weight", w);
}

torch::Tensor ShareSepConvImpl::forward(const torch::Tensor& x) {
  const int64_t c = x.size(1), pad = (k_ - 1) / 2;
  const std::vector<int64_t> one{1, 1}, padding{pad, pad};
  auto y = torch::conv2d(x, weight_.expand({c, 1, k_, k_}), torch::Tensor(), torch::IntArrayRef(one),
                         torch::IntArrayRef(padding), torch::IntArrayRef(one), c);
  if (metrics::counting()) metrics::count_macs(static_cast<uint64_t>(y.numel() * k_ * k_));
  return y;
}

ResidualBlockImpl::ResidualBlockImpl(int64_t channels, int64_t dilation, bool smooth) {
  // Registered in the reference's order: pre_conv1, conv1, norm1, pre_conv2, conv2, norm2.
  if (smooth) pre1_ = register_module("pre_conv1", ShareSepConv(2 * dilation - 1));
  conv1_ = register_module("conv1", conv3x3(channels, channels, 1, dilation, false));
  norm1_ = register_module("norm1", instance_norm(channels));
  if (smooth) pre2_ = register_module("pre_conv2", ShareSepConv(2 * dilation - 1));
  conv2_ = register_module("conv2", conv3x3(channels, channels, 1, dilation, false));
  norm2_ = register_module("norm2", instance_norm(channels));
}

torch::Tensor ResidualBlockImpl::forward(const torch::Tensor& x) {
  auto y = torch::relu(norm1_->forward(conv1_->forward(pre1_ ? pre1_->forward(x) : x)));
  y = norm2_->forward(conv2_->forward(pre2_ ? pre2_->forward(y) : y));
  return torch::relu(x + y);
}

}  // namespace gcanet

GcaNet::GcaNet(const Config& cfg) {
  int64_t channels = 64;
  read_options(cfg.sub("model"), {{"channels", &channels}, {"only_residual", &only_residual_}});
  if (channels < 1) throw ConfigError(fmt::format("config key 'model.channels' = {} must be >= 1", channels));
  const int64_t c = channels;
  conv1_ = register_module("conv1", gcanet::conv3x3(4, c, 1, 1, false));
  norm1_ = register_module("norm1", gcanet::instance_norm(c));
  conv2_ = register_module("conv2", gcanet::conv3x3(c, c, 1, 1, false));
  norm2_ = register_module("norm2", gcanet::instance_norm(c));
  conv3_ = register_module("conv3", gcanet::conv3x3(c, c, 2, 1, false));
  norm3_ = register_module("norm3", gcanet::instance_norm(c));
  const std::vector<std::pair<int64_t, bool>> blocks{{2, true}, {2, true}, {2, true}, {4, true},
                                                     {4, true}, {4, true}, {1, false}};
  for (size_t i = 0; i < blocks.size(); ++i)
    res_.push_back(register_module(fmt::format("res{}", i + 1),
                                   gcanet::ResidualBlock(c, blocks[i].first, blocks[i].second)));
  gate_ = register_module("gate", gcanet::conv3x3(3 * c, 3, 1, 1, true));
  deconv3_ = register_module("deconv3", nn::Deconv(c, c, 4, 2, 1));
  norm4_ = register_module("norm4", gcanet::instance_norm(c));
  deconv2_ = register_module("deconv2", gcanet::conv3x3(c, c, 1, 1, true));
  norm5_ = register_module("norm5", gcanet::instance_norm(c));
  deconv1_ = register_module("deconv1", nn::Conv(nn::ConvOptions(c, 3, 1).mode(nn::Pad::zero)));

  spec_.input_range = InputRange::zero_one;
  spec_.size_multiple = 2;
  spec_.task = cfg.get_string("task.name");
  spec_.primary = "background";
  spec_.outputs = {{"background", OutputDecl::Kind::image, false,
                    "J = (255 I + r) / 255, the restored image (unclamped, before test.py's rounding)", "dehazed"},
                   {"residual", OutputDecl::Kind::map, false, "r, the network's output in 0..255 units", "residual"}};
}

Outputs GcaNet::forward(const torch::Tensor& input) {
  const auto x = input * 255.0;
  const auto in = torch::cat({x, gcanet::edge(x)}, 1) - 128.0;
  auto y = torch::relu(norm1_->forward(conv1_->forward(in)));
  y = torch::relu(norm2_->forward(conv2_->forward(y)));
  const auto half = conv3_->forward(y);
  // The reference's F.instance_norm refuses a single pixel ("Expected more than 1 spatial
  // element"); LibTorch's would return a constant. Refused here as there.
  if (half.size(2) * half.size(3) < 2)
    throw DataError(fmt::format("gcanet: a {}x{} input leaves one pixel at half resolution, where instance "
                                "normalisation is undefined (at least 4 px per side)",
                                input.size(2), input.size(3)));
  const auto y1 = torch::relu(norm3_->forward(half));
  y = y1;
  for (size_t i = 0; i < 4; ++i) y = res_[i]->forward(y);
  const auto y2 = y;
  for (size_t i = 4; i < 7; ++i) y = res_[i]->forward(y);
  const auto y3 = y;
  const auto g = gate_->forward(torch::cat({y1, y2, y3}, 1));
  y = y1 * g.narrow(1, 0, 1) + y2 * g.narrow(1, 1, 1) + y3 * g.narrow(1, 2, 1);
  y = torch::relu(norm4_->forward(deconv3_->forward(y)));
  y = torch::relu(norm5_->forward(deconv2_->forward(y)));
  auto r = deconv1_->forward(y);
  if (!only_residual_) r = torch::relu(r);
  Outputs out;
  out.set("background", only_residual_ ? (x + r) / 255.0 : r / 255.0);
  out.set("residual", r);
  return out;
}

InputRequirement gcanet_input_requirement(const Config&) {
  InputRequirement r;
  r.multiple = 2;
  r.multiple_why = "gcanet: conv3 (stride 2) and deconv3 (x2 transposed) give 2 * ceil(H/2), the input's size for even sides only";
  r.min_side = 4;
  r.why = "gcanet: the instance norms at half resolution need more than one pixel";
  return r;
}

}  // namespace dmgn::models
