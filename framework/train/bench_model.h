#pragma once
// `dmgn bench model`: the complexity of a configured model on this device (Table III):
// parameters, multiply-accumulates per image at each input size, inference latency per image
// (batch 1, eval mode, no autograd; median of `repeats` timed passes after `warmup`,
// synchronised on CUDA) and, optionally, the training step at batch B x size (the real
// TrainSession step on the config's training data, train.batch_size and data.crop replaced).
#include <cstdint>
#include <vector>

#include "core/config.h"

namespace dmgn::train {

struct LatencyAtSize {
  int64_t size = 0;
  uint64_t macs = 0;
  double median_ms = 0, min_ms = 0, max_ms = 0;
  int repeats = 0;
};

struct ModelBench {
  int64_t parameters = 0;
  std::vector<LatencyAtSize> latency;
  int64_t train_batch = 0, train_size = 0, train_steps = 0;  // train_steps 0 = not measured
  double train_step_ms = 0, train_images_per_s = 0;
  int threads = 0;
};

struct ModelBenchOptions {
  std::vector<int64_t> sizes{256, 512};
  int repeats = 20, warmup = 3;
  int64_t train_steps = 0, train_warmup = 2, train_batch = 4, train_size = 256;
};

ModelBench measure_model(const Config& cfg, const ModelBenchOptions& options);

}  // namespace dmgn::train
