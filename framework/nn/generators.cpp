#include "nn/generators.h"

#include <cmath>
#include <fmt/format.h>

#include "core/error.h"

namespace dmgn::nn {

CellPtr make_cell(const Config& model_cfg, const CellShape& shape) {
  return cells().make(model_cfg.get_string("cell"), model_cfg, shape);
}

UpImpl::UpImpl(int64_t in, int64_t out) {
  conv1_ = register_module("conv1", Conv(ConvOptions(in, out, 3)));
  conv2_ = register_module("conv2", Conv(ConvOptions(out, out, 3)));
}

torch::Tensor UpImpl::forward(const torch::Tensor& x, const torch::Tensor& skip) {
  auto up = resize_bilinear(x, skip.size(2), skip.size(3), true);
  auto h = torch::cat({up, skip}, 1);
  return torch::relu(conv2_->forward(torch::relu(conv1_->forward(h))));
}

EncoderDecoder::EncoderDecoder(const Config& cfg, const GeneratorShape& shape) {
  const auto widths = cfg.get_ints("widths");
  const auto n_bottleneck = cfg.get_int("bottleneck_cells");
  const bool vestigial = cfg.get_bool("vestigial");
  if (widths.size() < 1) throw ConfigError("config key 'model.widths' needs at least one width");
  for (auto w : widths)
    if (w < 1) throw ConfigError("config key 'model.widths': widths must be positive");
  if (n_bottleneck < 0) throw ConfigError("config key 'model.bottleneck_cells' must be >= 0");
  if (shape.in_channels != widths[0])
    throw ConfigError(fmt::format("encoder_decoder: input has {} channels, model.widths[0] is {}",
                                  shape.in_channels, widths[0]));
  const size_t levels = widths.size();
  for (size_t i = 0; i + 1 < levels; ++i) {
    CellShape s{widths[i], 1, true, vestigial, widths[i + 1]};
    down_cells_.push_back(register_module(fmt::format("down{}", i), make_cell(cfg, s)));
  }
  for (int64_t i = 0; i < n_bottleneck; ++i) {
    CellShape s{widths.back(), 1, false, vestigial};
    bottleneck_.push_back(register_module(fmt::format("mid{}", i), make_cell(cfg, s)));
  }
  for (size_t k = levels - 1; k-- > 0;) {  // coarse to fine
    const size_t j = levels - 2 - k;       // 0 for the first up
    ups_.push_back(register_module(fmt::format("up{}", j), Up(widths[k + 1] + widths[k], widths[k])));
    CellShape s{widths[k], 1, false, vestigial};
    up_cells_.push_back(register_module(fmt::format("upcell{}", j), make_cell(cfg, s)));
  }
  out1_ = register_module("out1", Conv(ConvOptions(widths[0], widths[0], 3)));
  out2_ = register_module("out2", Conv(ConvOptions(widths[0], 3, 1)));
}

GeneratorOutput EncoderDecoder::forward(const torch::Tensor& x, const torch::Tensor&) {
  GeneratorOutput out;
  std::vector<torch::Tensor> skips;
  torch::Tensor h = x;
  auto keep = [&](const CellOutput& c) {
    if (c.mask.defined()) out.masks.push_back(c.mask);
  };
  for (auto& cell : down_cells_) {
    auto c = cell->forward(h);
    keep(c);
    skips.push_back(c.skip);
    h = c.y;
  }
  for (auto& cell : bottleneck_) {
    auto c = cell->forward(h);
    keep(c);
    h = c.y;
  }
  for (size_t j = 0; j < ups_.size(); ++j) {
    h = ups_[j]->forward(h, skips[skips.size() - 1 - j]);
    auto c = up_cells_[j]->forward(h);
    keep(c);
    h = c.y;
  }
  out.out = out2_->forward(torch::relu(out1_->forward(h)));
  return out;
}

DilatedRefine::DilatedRefine(const Config& cfg, const GeneratorShape& shape) {
  const int64_t c = cfg.get_ints("widths").at(0);
  const bool vestigial = cfg.get_bool("vestigial");
  const auto dilations = cfg.get_ints("refine.dilations");
  alpha_ = cfg.get_float("refine.ndm.alpha");
  q_ = cfg.get_float("refine.ndm.q");
  tanh_ = cfg.get_bool("refine.out_tanh");
  if (alpha_ < 0 || q_ < 0)
    throw ConfigError("config keys 'model.refine.ndm.alpha' and '.q' must be >= 0 (Eq. 10)");
  in_ = register_module("in", Conv(ConvOptions(shape.in_channels, c, 3)));
  for (size_t i = 0; i < dilations.size(); ++i) {
    if (dilations[i] < 1) throw ConfigError("config key 'model.refine.dilations': must be >= 1");
    CellShape s{c, dilations[i], false, vestigial};
    cells_.push_back(register_module(fmt::format("cell{}", i), make_cell(cfg, s)));
  }
  out1_ = register_module("out1", Conv(ConvOptions(c, c, 1)));
  out2_ = register_module("out2", Conv(ConvOptions(c, 3, 1)));
}

double DilatedRefine::prior_weight(size_t n) const {
  return alpha_ * std::pow(q_, static_cast<double>(n) - 1.0);
}

GeneratorOutput DilatedRefine::forward(const torch::Tensor& x, const torch::Tensor& prior) {
  GeneratorOutput out;
  auto h = torch::relu(in_->forward(x));
  for (size_t i = 0; i < cells_.size(); ++i) {
    auto c = cells_[i]->forward(h, prior, prior_weight(i + 1));  // Eq. 10, n = i + 1
    if (c.mask.defined()) out.masks.push_back(c.mask);
    h = c.y;
  }
  out.out = out2_->forward(torch::relu(out1_->forward(h)));
  if (tanh_) out.out = torch::tanh(out.out);
  return out;
}

GeneratorRegistry& generators() {
  static GeneratorRegistry registry("generator");
  return registry;
}

}  // namespace dmgn::nn
