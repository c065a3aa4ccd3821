#include "train/bench_model.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>

#include <torch/cuda.h>

#include "core/error.h"
#include "metrics/macs.h"
#include "models/model.h"
#include "nn/layers.h"
#include "train/bench.h"
#include "train/distributed.h"
#include "train/trainer.h"

namespace dmgn::train {

namespace {

// Waits for the device's queued work, so a timed pass includes it (LibTorch 1.13 and 2.x alike).
void synchronize(const torch::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize(device.index());
}

}  // namespace

ModelBench measure_model(const Config& cfg, const ModelBenchOptions& o) {
  if (o.repeats < 1) throw ConfigError(fmt::format("--repeats must be >= 1 (got {})", o.repeats));
  for (int64_t s : o.sizes)
    if (s < 16 || s % 4 != 0) throw ConfigError(fmt::format("--sizes: {} is not a multiple of 4 >= 16", s));
  apply_threads(cfg);
  const torch::Device device = runtime_device(cfg);
  torch::manual_seed(cfg.get_int("run.seed"));
  auto model = models::build_model(cfg);
  model->to(device);
  model->eval();
  ModelBench r;
  r.threads = torch::get_num_threads();
  r.parameters = nn::count_parameters(*model).total - model->vestigial_parameters();
  {
    torch::NoGradGuard no_grad;
    for (int64_t size : o.sizes) {
      LatencyAtSize l;
      l.size = size;
      {
        metrics::MacCounter counter;
        model->forward(torch::zeros({1, 3, size, size}, torch::TensorOptions().device(device)));
        l.macs = counter.total();
      }
      const auto x = torch::rand({1, 3, size, size}, torch::TensorOptions().device(device)) * 2 - 1;
      for (int i = 0; i < o.warmup; ++i) model->forward(x);
      synchronize(device);
      std::vector<double> ms;
      for (int i = 0; i < o.repeats; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        const auto out = model->forward(x);
        synchronize(device);
        ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      }
      std::sort(ms.begin(), ms.end());
      l.repeats = o.repeats;
      l.min_ms = ms.front();
      l.max_ms = ms.back();
      l.median_ms = ms.size() % 2 ? ms[ms.size() / 2] : 0.5 * (ms[ms.size() / 2 - 1] + ms[ms.size() / 2]);
      r.latency.push_back(l);
    }
  }
  if (o.train_steps > 0) {
    Config tc = cfg;
    tc.set(fmt::format("train.batch_size={}", o.train_batch));
    tc.set(fmt::format("data.crop={}", o.train_size));
    const CollectivePtr single = make_collective(DistEnv{});
    const auto t = measure_training_throughput(tc, *single, o.train_steps, o.train_warmup);
    r.train_batch = o.train_batch;
    r.train_size = o.train_size;
    r.train_steps = t.steps;
    r.train_step_ms = 1000.0 * t.seconds / static_cast<double>(std::max<int64_t>(1, t.steps));
    r.train_images_per_s = t.images_per_s;
  }
  return r;
}

}  // namespace dmgn::train
