#pragma once
// Training-throughput measurement shared by `dmgn bench scaling` (and its workers): the real
// TrainSession step (DDP all-reduces included) on the config's training data, timed after a
// warm-up, with barriers around the timed window so every rank measures the same interval.
#include <string>

#include "core/config.h"
#include "train/distributed.h"

namespace dmgn::train {

struct ThroughputResult {
  int world_size = 1;
  int64_t global_batch = 0;
  int64_t steps = 0;
  double seconds = 0;       // timed window (rank 0's clock, between barriers)
  double images_per_s = 0;  // global_batch * steps / seconds
  int threads = 0;          // torch intra-op threads per rank
};

// Runs `warmup` untimed and `steps` timed steps with train.batch_size per rank.
ThroughputResult measure_training_throughput(const Config& cfg, Collective& collective, int64_t steps,
                                             int64_t warmup);

// Loader throughput (`dmgn bench data`): the config's training loader (data.workers threads,
// prefetch, train.batch_size) drained as fast as it delivers, after `warmup` batches.
struct LoaderThroughput {
  int64_t batches = 0, batch_size = 0, workers = 0;
  double seconds = 0;
  double images_per_s = 0;
};
LoaderThroughput measure_loader_throughput(const Config& cfg, int64_t batches, int64_t warmup);

// "cpu: <model name> (<n> cores)" or the CUDA device, for benchmark rows.
std::string device_description(const torch::Device& device);

}  // namespace dmgn::train
