#include "nn/cells.h"

namespace dmgn::nn {

ConvPairCell::ConvPairCell(const CellShape& shape) : shape_(shape) {
  const int64_t c = shape.channels, d = shape.dilation;
  conv1_ = register_module("conv1", Conv(ConvOptions(c, c, 3).dilation(d).bias(false)));
  conv2_ = register_module("conv2", Conv(ConvOptions(c, c, 3).dilation(d).bias(false)));
  const int64_t down = shape.downsample && shape.down_channels > 0 ? shape.down_channels : 2 * c;
  if (shape.downsample || shape.vestigial)
    down_ = register_module("down", Conv(ConvOptions(c, down, 3).stride(2).bias(false)));
}

torch::Tensor ConvPairCell::features(const torch::Tensor& x) {
  return torch::relu(conv2_->forward(torch::relu(conv1_->forward(x))));
}

CellOutput ConvPairCell::finish(torch::Tensor y, torch::Tensor mask) {
  CellOutput out;
  out.mask = std::move(mask);
  if (shape_.downsample) {
    out.skip = y;
    out.y = torch::relu(down_->forward(y));
  } else {
    out.y = std::move(y);
  }
  return out;
}

torch::Tensor fuse_mask(const torch::Tensor& own, const torch::Tensor& prior, double weight) {
  return (own + weight * prior) / (1.0 + weight);  // Eq. 10
}

RdmcCell::RdmcCell(const CellShape& shape) : ConvPairCell(shape) {
  const int64_t c = shape.channels;
  mask1_ = register_module("mask1", Conv(ConvOptions(c, c, 1)));
  mask2_ = register_module("mask2", Conv(ConvOptions(c, 1, 1)));
}

CellOutput RdmcCell::forward(const torch::Tensor& x, const torch::Tensor& prior,
                             double prior_weight) {
  auto h = features(x);                                                    // H(X)
  auto m = torch::sigmoid(mask2_->forward(torch::tanh(mask1_->forward(h))));  // M(H(X))
  if (prior.defined()) m = fuse_mask(m, prior, prior_weight);              // Eq. 10
  return finish(x + m * h, m);                                             // Eq. 5
}

PlainCell::PlainCell(const CellShape& shape, bool residual)
    : ConvPairCell(CellShape{shape.channels, shape.dilation, shape.downsample, false,
                             shape.down_channels}),
      residual_(residual) {}

CellOutput PlainCell::forward(const torch::Tensor& x, const torch::Tensor&, double) {
  auto h = features(x);
  return finish(residual_ ? x + h : h, {});
}

CellRegistry& cells() {
  static CellRegistry registry("cell");
  return registry;
}

}  // namespace dmgn::nn
