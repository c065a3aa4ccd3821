#pragma once
// Generator cells (the "iterative cell structure" of Sec. III-B).
//   rdmc  — Residual Deep-Masking Cell, Eq. 4-5: H = ReLU(conv3x3(ReLU(conv3x3(X)))) (no
//           bias, reflection padding, optional dilation); M = sigmoid(conv1x1(tanh(conv1x1(H))))
//           with ONE channel broadcast over features; Y = X + M * H. In G_refine the mask is
//           fused with the background map A_b (Eq. 10): M = (M + w * A_b) / (1 + w).
//   plain — the Base model's plain convolutions: Y = H(X) (or X + H(X) with residual).
// A downsampling cell also returns its output as the skip and applies a stride-2 3x3
// conv + ReLU doubling the channels (the official `conv3`). The official code creates that
// conv in EVERY cell and runs it only in downsampling ones; `vestigial` keeps the unused ones
// so the parameter set (and counts, and state dicts) match the official model exactly.
#include <torch/torch.h>

#include <memory>
#include <string>

#include "core/config.h"
#include "core/registry.h"
#include "nn/layers.h"

namespace dmgn::nn {

struct CellShape {
  int64_t channels = 64;
  int64_t dilation = 1;
  bool downsample = false;     // run the stride-2 conv (C -> down_channels) after the cell
  bool vestigial = false;      // create that conv (C -> 2C) even when it never runs
  int64_t down_channels = 0;   // 0 = 2C (official)
};

struct CellOutput {
  torch::Tensor y;     // cell output (after the stride-2 conv for downsampling cells)
  torch::Tensor skip;  // pre-downsampling output (downsampling cells only)
  torch::Tensor mask;  // N x 1 x H x W gating mask actually applied (undefined for plain)
};

class Cell : public torch::nn::Module {
 public:
  // prior: optional N x 1 x H x W map fused into the mask with weight prior_weight (Eq. 10).
  virtual CellOutput forward(const torch::Tensor& x, const torch::Tensor& prior = {},
                             double prior_weight = 0.0) = 0;
  // Whether the cell has a learned mask that can take a prior (Eq. 10).
  virtual bool has_mask() const = 0;
  // Parameters created only to mirror the official layout (never run).
  virtual int64_t vestigial_parameters() const { return 0; }
};
using CellPtr = std::shared_ptr<Cell>;

// Shared part: the two 3x3 convs and the optional stride-2 conv.
class ConvPairCell : public Cell {
 protected:
  explicit ConvPairCell(const CellShape& shape);

 public:
  int64_t vestigial_parameters() const override {
    return down_ && !shape_.downsample ? down_->weight.numel() : 0;
  }

 protected:
  torch::Tensor features(const torch::Tensor& x);  // H(X)
  CellOutput finish(torch::Tensor y, torch::Tensor mask);
  CellShape shape_;
  Conv conv1_{nullptr}, conv2_{nullptr}, down_{nullptr};
};

class RdmcCell : public ConvPairCell {
 public:
  explicit RdmcCell(const CellShape& shape);
  CellOutput forward(const torch::Tensor& x, const torch::Tensor& prior = {},
                     double prior_weight = 0.0) override;
  bool has_mask() const override { return true; }

 private:
  Conv mask1_{nullptr}, mask2_{nullptr};
};

class PlainCell : public ConvPairCell {
 public:
  PlainCell(const CellShape& shape, bool residual);
  CellOutput forward(const torch::Tensor& x, const torch::Tensor& prior = {},
                     double prior_weight = 0.0) override;
  bool has_mask() const override { return false; }

 private:
  bool residual_;
};

// Eq. 10: fuses a cell's own mask with the background distribution map.
torch::Tensor fuse_mask(const torch::Tensor& own, const torch::Tensor& prior, double weight);

// registry "cell": factory(config, shape).
using CellRegistry = Registry<CellPtr, const Config&, const CellShape&>;
CellRegistry& cells();

}  // namespace dmgn::nn
