#pragma once
// Evaluation of a model on a dataset split: PSNR/SSIM of the restored background against the
// ground truth with a metric convention (metrics::Spec), beside the identity baseline (input vs
// ground truth). One image at a time, full size, no gradients (as the official eval.py). Images
// whose sides are not multiples of the model's size multiple (4 for the DMGN encoders) are
// padded by reflection to the next multiple and the output is cropped back, so benchmark images
// of any size (Real20, SOTS 620x460) are scored at their own size.
// Bad samples: with skip_bad a sample that throws DataError / IoError is left out and counted
// (EvalResult::skipped, with its message in skipped_messages); without, the error propagates.
// Memory: before a sample runs, the model's measured footprint (train/tiling.h) at its size is
// compared with the memory the process may use (runtime.memory_gb, else what is free); a sample
// that does not fit is restored in overlapping tiles by a model of local operations
// (ModelSpec::receptive_radius >= 0: exactly the full-size result), and is otherwise a bad
// sample naming its size and the memory it needs. An allocation that fails anyway is the same.
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/config.h"
#include "data/dataset.h"
#include "metrics/psnr_ssim.h"
#include "models/model.h"
#include "store/run_store.h"
#include "train/distributed.h"
#include "train/tiling.h"

namespace dmgn::train {

struct ImageScore {
  std::string id;
  double psnr = 0, ssim = 0, psnr_input = 0, ssim_input = 0;
  std::string output;  // the saved output PNG, if saved
  int64_t index = -1;  // the sample's index in the dataset
};

struct EvalResult {
  std::string dataset;
  std::string preset;                      // metrics::Spec::name
  std::string spec;                        // metrics::Spec::describe(): the whole convention
  int64_t samples = 0;                     // images scored
  int64_t skipped = 0;                     // bad samples left out (skip_bad)
  int64_t tiled = 0;                       // samples restored in tiles (too large for memory)
  double psnr = 0, ssim = 0;               // model output vs ground truth
  double psnr_input = 0, ssim_input = 0;   // identity baseline: input vs ground truth
  std::vector<ImageScore> images;          // per image, in sample order
  std::vector<std::string> skipped_messages;
  // EvalOptions::stop said stop (on some rank): the sums are partial and not means; nothing
  // of it is to be recorded.
  bool interrupted = false;
};

struct EvalOptions {
  int64_t max_samples = 0;                 // 0 = all
  std::filesystem::path save_dir;          // write the first `save_count` results as PNGs
  int64_t save_count = 4;                  // < 0 = all
  torch::Device device = torch::kCPU;
  torch::MemoryFormat memory_format = torch::MemoryFormat::Contiguous;  // runtime.channels_last
  bool skip_bad = false;                   // data.on_bad_sample = "skip"
  // Asked before every sample (a training run's SIGINT/SIGTERM): true stops the evaluation,
  // which returns with `interrupted` (every rank, once their results are gathered).
  std::function<bool()> stop;
  double memory_budget = 0;                // bytes a restoration may use; 0 = what is free
  // Every sample restored in these tiles whatever its size (`dmgn restore --tile`); unset: whole
  // images, tiles only where the memory budget requires them.
  std::optional<TilePlan> tiles;
  // The model's footprint, measured at the first sample; a caller that evaluates one model
  // again (validation during training) keeps it here. Null: measured per call.
  std::shared_ptr<Footprint> footprint;
};

// runtime.memory_gb in bytes (0 = what the system has free, asked per sample).
double memory_budget(const Config& cfg);

EvalResult evaluate(models::Model& model, const data::Dataset& dataset, const metrics::Spec& spec,
                    const EvalOptions& options = {});
// Data-parallel: rank r evaluates samples r, r + W, r + 2W, ... of the first max_samples; the
// per-image scores of every rank are gathered, in sample order, on every rank, and every rank
// returns the mean over all samples, summed in that order (a single process's value). Only
// rank 0 saves images.
EvalResult evaluate(models::Model& model, const data::Dataset& dataset, const metrics::Spec& spec,
                    const EvalOptions& options, Collective& collective);

// Where an evaluation saves a sample: its id (the file path under the dataset root, without the
// "<dataset>/" it starts with) as it is, so saved images keep their original names and folders;
// ".png" appended where the id has no image extension (synthetic samples), "<index>.png" where it
// is no relative path.
std::filesystem::path saved_name(const std::string& id, int64_t index, const std::string& dataset = "");
// Per-image scores as CSV (image, psnr, ssim, psnr_input, ssim_input, output), with the original
// file names: IoError naming `file` when it cannot be written.
void write_scores_csv(const EvalResult& r, const std::filesystem::path& file);
// True when a stored evaluation was made on this dataset as it opens now (its provenance: root,
// adapter, task, ...), so that its numbers can be reused instead of computed again.
bool same_data(const store::Evaluation& e, const data::Dataset& dataset);

// The metric convention of a (system, dataset) pair: the one rule every command applies (eval,
// train's tests, report cross-system; docs/metrics.md). The system's eval.metric when it names
// a preset (in that preset's form for the dataset's task, e.g. mbn -> mbn_rgb on haze); under
// "auto", the convention of the dataset's task (its [datasets.<name>] task, else what the
// dataset says, else the config's task.name). `why` says which, printed with every score.
struct Convention {
  metrics::Spec spec;
  std::string why;
};
Convention metric_convention(const Config& system_cfg, const data::Dataset& dataset);
// The same by name; `task` "" = the dataset's task as the config declares it.
Convention metric_convention(const Config& system_cfg, const std::string& dataset, const std::string& task = "");

// The store's record of an evaluation of `dataset` (step, run id and checkpoint left to the
// caller): the numbers, the metric spec and the dataset's provenance, and one row per image.
store::Evaluation evaluation_record(const EvalResult& r, const data::Dataset& dataset);
std::vector<store::EvalImage> image_records(const EvalResult& r);

// One sample through `model` as evaluate() runs it: padded to the model's size multiple, routed to
// the sample's task (a models::TaskRouted model keeps that route afterwards), cropped back. Call
// under c10::InferenceMode with the model in eval mode. outputs: the model's, in model space, padded;
// image(key): that output as [0,1] 1xCxHxW on the CPU, padding cropped, clamped.
struct Restoration {
  models::Outputs outputs;
  int64_t height = 0, width = 0;
  std::optional<TilePlan> tiles;  // restored in tiles (evaluate: too large for memory)
  torch::Tensor image(const models::Model& model, const std::string& key) const;
};
Restoration run_sample(models::Model& model, const data::Sample& sample, torch::Device device,
                       torch::MemoryFormat memory_format = torch::MemoryFormat::Contiguous);

// run_sample within the memory the process may use (EvalOptions::memory_budget, see the top):
// at full size, in tiles (a model of local operations), or a DataError naming the sample, its
// size and the memory it needs. `footprint` is measured on first use and kept by the caller.
Restoration restore_sample(models::Model& model, const data::Sample& sample, const EvalOptions& options,
                           Footprint& footprint);

// Reflection-pads NCHW `x` so H and W are multiples of `m` (replicate for sides too small to
// reflect); the caller crops the output back.
torch::Tensor pad_to_multiple(const torch::Tensor& x, int64_t m);

// metrics::spec_from_config: eval.metric, or for "auto" the task's benchmark convention
// (reflection -> real20, rain -> rain100, haze -> sots).
metrics::Spec metric_preset(const Config& cfg);
// The convention for one dataset: under "auto" its [datasets.<name>] task decides (a rain
// benchmark is scored as rain100 whatever the run's task); otherwise as above.
metrics::Spec metric_preset(const Config& cfg, const std::string& dataset);
// The same for an opened dataset: its own task (data::Dataset::task) when it knows one.
metrics::Spec metric_preset(const Config& cfg, const data::Dataset& dataset);

}  // namespace dmgn::train
