#include "train/bench.h"

#include <fmt/format.h>

#include <chrono>
#include <thread>

#include "core/compat.h"
#include "core/error.h"
#include "data/benchmarks.h"
#include "data/loader.h"
#include "train/recipe.h"
#include "train/trainer.h"

namespace dmgn::train {

ThroughputResult measure_training_throughput(const Config& cfg, Collective& c, int64_t steps, int64_t warmup) {
  if (steps < 1) throw ConfigError("bench: --steps must be >= 1");
  apply_threads(cfg);
  const torch::Device device = worker_device(cfg);
  auto train_set = open_for_model(cfg, cfg.get_string("data.train"), data::Split::train);
  const data::LoaderOptions lopt = train_loader_options(cfg, c);
  const auto loader = data::open_stream(train_set, lopt);
  // The collective is shared (not owned): wrap it without taking ownership.
  CollectivePtr shared(&c, [](Collective*) {});
  const auto recipe = build_recipe({cfg, shared, device, warmup + steps});

  int64_t step = 0;
  // runtime.host_sync = "log": the last step of each loop settles, as a run's logging step does
  // (and a non-finite step under train.nonfinite = "stop" fails the measurement there).
  auto run = [&](int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
      auto res = recipe->step(loader->next_rolling(), step++);
      if (i + 1 == n) recipe->settle(res);
    }
  };
  run(warmup);
  compat::synchronize(device);
  c.barrier();
  const auto t0 = std::chrono::steady_clock::now();
  run(steps);
  compat::synchronize(device);
  c.barrier();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  ThroughputResult r;
  r.world_size = c.world_size();
  r.global_batch = lopt.batch_size * c.world_size();
  r.steps = steps;
  r.seconds = s;
  r.images_per_s = static_cast<double>(r.global_batch * steps) / s;
  r.threads = torch::get_num_threads();
  return r;
}

LoaderThroughput measure_loader_throughput(const Config& cfg, int64_t batches, int64_t warmup) {
  if (batches < 1) throw ConfigError("bench data: --batches must be >= 1");
  apply_threads(cfg);
  auto train_set = open_for_model(cfg, cfg.get_string("data.train"), data::Split::train);
  const CollectivePtr single = make_collective(DistEnv{});  // one process, rank 0 of 1
  const auto loader = data::open_stream(train_set, train_loader_options(cfg, *single));
  for (int64_t i = 0; i < warmup; ++i) loader->next_rolling();
  const auto t0 = std::chrono::steady_clock::now();
  int64_t images = 0;
  for (int64_t i = 0; i < batches; ++i) images += loader->next_rolling().size();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  LoaderThroughput r;
  r.batches = batches;
  r.batch_size = loader->batch_size();
  r.workers = cfg.get_int("data.workers");
  r.seconds = s;
  r.images_per_s = static_cast<double>(images) / s;
  return r;
}

std::string device_description(const torch::Device& device) {
  if (device.is_cuda())
    return fmt::format("cuda:{}: {}", device.has_index() ? device.index() : 0, compat::device_name(device));
  return fmt::format("cpu: {} ({} cores)", compat::device_name(device), std::thread::hardware_concurrency());
}

}  // namespace dmgn::train
