#pragma once
// Image generators built from cells (registry kind "generator"):
//   encoder_decoder — G_b / G_r (Sec. III-A): cell(w0)+down, cell(w1)+down, n x cell(w2),
//                     up (bilinear, align_corners=true, to the skip's size; concat skip; two
//                     3x3 conv+ReLU), cell(w1), up, cell(w0); output 3x3 conv+ReLU, 1x1 conv
//                     -> 3 channels, no activation. Generalises to any number of widths.
//   dilated_refine  — G_refine (Sec. III-C): 3x3 conv+ReLU (E -> w0), one cell per dilation
//                     at constant resolution, each mask fused with A_b by Eq. 10 with weight
//                     alpha * q^(n-1); output 1x1 conv+ReLU, 1x1 conv -> 3, optional tanh.
#include <torch/torch.h>

#include <memory>
#include <vector>

#include "core/config.h"
#include "core/registry.h"
#include "nn/cells.h"
#include "nn/layers.h"

namespace dmgn::nn {

struct GeneratorOutput {
  torch::Tensor out;                 // N x 3 x H x W (before any residual addition)
  std::vector<torch::Tensor> masks;  // every cell's applied mask, in order (RDMC only)
};

class Generator : public torch::nn::Module {
 public:
  // prior: A_b for the refine generator's Eq. 10 fusion (undefined = no fusion).
  virtual GeneratorOutput forward(const torch::Tensor& x, const torch::Tensor& prior = {}) = 0;
};
using GeneratorPtr = std::shared_ptr<Generator>;

struct GeneratorShape {
  int64_t in_channels = 64;
};

class UpImpl : public torch::nn::Module {
 public:
  UpImpl(int64_t in, int64_t out);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& skip);

 private:
  Conv conv1_{nullptr}, conv2_{nullptr};
};
TORCH_MODULE(Up);

class EncoderDecoder : public Generator {
 public:
  // cfg: the [model] table (widths, bottleneck_cells, cell, vestigial, plain.*).
  EncoderDecoder(const Config& model_cfg, const GeneratorShape& shape);
  GeneratorOutput forward(const torch::Tensor& x, const torch::Tensor& prior = {}) override;

 private:
  std::vector<CellPtr> down_cells_, bottleneck_, up_cells_;
  std::vector<Up> ups_;
  Conv out1_{nullptr}, out2_{nullptr};
};

class DilatedRefine : public Generator {
 public:
  // cfg: the [model] table (widths[0], cell, vestigial, refine.dilations, refine.ndm.*).
  DilatedRefine(const Config& model_cfg, const GeneratorShape& shape);
  GeneratorOutput forward(const torch::Tensor& x, const torch::Tensor& prior = {}) override;
  // Eq. 10 weight for the n-th cell (n from 1): alpha * q^(n-1).
  double prior_weight(size_t n) const;

 private:
  Conv in_{nullptr}, out1_{nullptr}, out2_{nullptr};
  std::vector<CellPtr> cells_;
  double alpha_, q_;
  bool tanh_;
};

// Builds a cell of the configured kind (model.cell) for a generator.
CellPtr make_cell(const Config& model_cfg, const CellShape& shape);

using GeneratorRegistry = Registry<GeneratorPtr, const Config&, const GeneratorShape&>;
GeneratorRegistry& generators();

}  // namespace dmgn::nn
