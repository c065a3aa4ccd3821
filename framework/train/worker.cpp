// The worker's environment: threads, device, collective, datasets opened for the model and its
// training loader's options
// (declared in train/trainer.h).
#include <fmt/format.h>

#include <cstdlib>
#include <thread>
#include <utility>

#include "core/compat.h"
#include "core/error.h"
#include "core/log.h"
#include "data/benchmarks.h"
#include "losses/terms.h"
#include "models/model.h"
#include "train/trainer.h"

namespace dmgn::train {

void apply_threads(const Config& cfg) {
  int64_t threads = cfg.get_int("runtime.threads");
  if (threads < 0) throw ConfigError("config key 'runtime.threads' must be >= 0");
  const int64_t cores = std::max(1u, std::thread::hardware_concurrency());
  // 0: every core, shared among the workers a launcher started on this machine (LOCAL_WORLD_SIZE
  // as dmgn launch and torchrun set it, or Slurm's tasks on this node); under Slurm at most the
  // task's SLURM_CPUS_PER_TASK. train/threads.h then follows the free cores.
  const DistEnv env = dist_env_from_environment();
  if (threads == 0) {
    threads = std::max<int64_t>(1, cores / std::max(1, env.local_world_size));
    if (const char* c = std::getenv("SLURM_CPUS_PER_TASK"); env.launcher == "slurm" && c && std::atoi(c) > 0)
      threads = std::min<int64_t>(threads, std::atoi(c));
  }
  static bool warned = false;  // once per process (evaluation and training both apply it)
  if (threads > cores && !std::exchange(warned, true))
    log::warn(fmt::format("runtime.threads = {} is more than this machine's {} hardware threads: they will contend "
                          "(0 = every core)",
                          threads, cores));
  torch::set_num_threads(static_cast<int>(threads));
}

torch::Device runtime_device(const Config& cfg) {
  const auto dev = cfg.get_string("runtime.device");
  if (dev == "cpu") return torch::kCPU;
  if (dev == "cuda") {
    if (!compat::cuda_available())
      throw ConfigError("runtime.device = \"cuda\" but this LibTorch build has no usable CUDA device");
    return torch::Device(torch::kCUDA, 0);
  }
  throw ConfigError(fmt::format("config key 'runtime.device': '{}' is not one of cpu, cuda", dev));
}

torch::Device worker_device(const Config& cfg) {
  const torch::Device d = runtime_device(cfg);
  if (!d.is_cuda()) return d;
  const auto gpus = static_cast<int>(torch::cuda::device_count());
  const int local = dist_env_from_environment().local_rank;
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(gpus > 0 ? local % gpus : 0));
}

CollectivePtr collective_from_environment(const Config& cfg) {
  CollectiveOptions o;
  o.backend = cfg.get_string("runtime.dist_backend");
  const double timeout_s = cfg.get_float("runtime.dist_timeout_s");
  if (!(timeout_s > 0)) throw ConfigError("config key 'runtime.dist_timeout_s' must be > 0");
  o.timeout = std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000));
  o.device = worker_device(cfg);
  return make_collective(dist_env_from_environment(), o);
}

data::DatasetPtr open_for_model(const Config& cfg, const std::string& name, data::Split split) {
  auto ds = data::open_dataset(cfg, name, split);
  const auto need = models::input_requirement(cfg);
  ds->require_min_side(need.min_side, need.why);
  return ds;
}

data::LoaderOptions train_loader_options(const Config& cfg, const Collective& c) {
  data::LoaderOptions o;
  o.batch_size = cfg.get_int("train.batch_size");
  o.seed = static_cast<uint64_t>(cfg.get_int("run.seed"));
  o.workers = cfg.get_int("data.workers");
  o.skip_bad = data::skip_bad_samples(cfg);
  o.rank = c.rank();
  o.world_size = c.world_size();
  return o;
}

namespace {

// Training crops are not padded (evaluation pads to the size multiple): each must fit as is.
// They are data.crop, or the per-part crops of a training set made of parts (data.<train>.crops,
// e.g. data.multitask.crops).
void check_crop(const Config& cfg, const models::InputRequirement& need) {
  const std::string parts_key = "data." + cfg.get_string("data.train") + ".crops";
  const std::string key = cfg.has(parts_key) ? parts_key : "data.crop";
  const auto crops = cfg.has(parts_key) ? cfg.get_ints(parts_key) : std::vector<int64_t>{cfg.get_int("data.crop")};
  for (const int64_t crop : crops) {
    if (crop <= 0) continue;  // no crop: whole samples, each against the model's smallest side (open_for_model)
    if (const auto problem = need.refuses(crop, crop); !problem.empty()) {
      const auto from = cfg.source_of(key);
      throw ConfigError(fmt::format("config key '{}' = {} is {}{}", key, crop, problem,
                                    from == "defaults" ? "" : fmt::format(" (set in {})", from)));
    }
  }
}

}  // namespace

void check_crop_fits_model(const Config& cfg) {
  check_crop(cfg, models::input_requirement(cfg));
}

void check_crop_fits_training(const Config& cfg, const models::ModelSpec& spec) {
  check_crop(cfg, losses::training_requirement(cfg, losses::plan_terms(cfg, spec)));
}

}  // namespace dmgn::train
