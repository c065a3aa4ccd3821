#pragma once
// Evaluation of a model on a dataset split: PSNR/SSIM of the restored background against the
// ground truth with a metric convention (metrics::Spec), beside the identity baseline (input vs
// ground truth). One image at a time, full size, no gradients (as the official eval.py).
#include <filesystem>
#include <string>

#include "core/config.h"
#include "data/dataset.h"
#include "metrics/psnr_ssim.h"
#include "models/model.h"
#include "train/distributed.h"

namespace dmgn::train {

struct EvalResult {
  std::string dataset;
  std::string preset;                      // metrics::Spec::name
  std::string spec;                        // metrics::Spec::describe(): the whole convention
  int64_t samples = 0;
  double psnr = 0, ssim = 0;               // model output vs ground truth
  double psnr_input = 0, ssim_input = 0;   // identity baseline: input vs ground truth
};

struct EvalOptions {
  int64_t max_samples = 0;                 // 0 = all
  std::filesystem::path save_dir;          // write the first `save_count` results as PNGs
  int64_t save_count = 4;
  torch::Device device = torch::kCPU;
};

EvalResult evaluate(models::Model& model, const data::Dataset& dataset, const metrics::Spec& spec,
                    const EvalOptions& options = {});
// Data-parallel: rank r evaluates samples r, r + W, r + 2W, ... of the first max_samples; the
// per-image sums are all-reduced, so every rank returns the mean over all samples (the same
// value as a single process, up to summation order). Only rank 0 saves images.
EvalResult evaluate(models::Model& model, const data::Dataset& dataset, const metrics::Spec& spec,
                    const EvalOptions& options, Collective& collective);

// metrics::spec_from_config: eval.metric, or for "auto" the task's benchmark convention
// (reflection -> real20, rain -> rain100, haze -> sots).
metrics::Spec metric_preset(const Config& cfg);

}  // namespace dmgn::train
