#include "train/trainer.h"

#include <fmt/format.h>

#include <atomic>
#include <cmath>
#include <csignal>
#include <optional>
#include <thread>

#include "core/compat.h"
#include "core/error.h"
#include "core/log.h"
#include "core/progress.h"
#include "data/benchmarks.h"
#include "data/loader.h"
#include "models/model.h"
#include "store/run_store.h"
#include "train/checkpoint.h"
#include "train/run_record.h"
#include "train/session.h"

namespace dmgn::train {
namespace fs = std::filesystem;

namespace {

std::atomic<int> g_stop_signal{0};

extern "C" void on_stop_signal(int sig) { g_stop_signal = sig; }

// Installs SIGINT/SIGTERM handlers for the lifetime of a run, restoring the previous ones.
class StopSignals {
 public:
  StopSignals() {
    g_stop_signal = 0;
    prev_int_ = std::signal(SIGINT, on_stop_signal);
    prev_term_ = std::signal(SIGTERM, on_stop_signal);
  }
  ~StopSignals() {
    std::signal(SIGINT, prev_int_);
    std::signal(SIGTERM, prev_term_);
  }
  bool stop() const { return g_stop_signal != 0; }

 private:
  void (*prev_int_)(int);
  void (*prev_term_)(int);
};

std::string format_terms(const StepResult& r, bool has_d) {
  std::string s = fmt::format("loss {:.4f}", r.loss);
  for (const auto& [name, v] : r.terms) s += fmt::format(" {} {:.4f}", name, v);
  if (has_d) s += fmt::format(" | D {:.4f}", r.d_loss);
  return s;
}

std::map<std::string, std::string> vgg_provenance(const Config& cfg, const models::Model& model) {
  const auto file = cfg.get_string("model.head.vgg_weights");
  if (!model.vgg()) return {{"vgg_weights", "none"}};
  if (model.vgg()->pretrained()) return {{"vgg_weights", "file"}, {"vgg_file", file}};
  return {{"vgg_weights", "random"}};
}

void warn_random_vgg() {
  log::loud(
      "VGG-19 weights: RANDOM (model.head.vgg_weights is empty).\n"
      "The hypercolumn head and the perceptual loss use an untrained VGG-19, unlike the paper.\n"
      "Results are NOT comparable to the paper; the run is marked vgg_weights=random.\n"
      "Export ImageNet weights once (see README, 'VGG-19 weights') and set model.head.vgg_weights.");
}

}  // namespace

void apply_threads(const Config& cfg) {
  int64_t threads = cfg.get_int("runtime.threads");
  if (threads < 0) throw ConfigError("config key 'runtime.threads' must be >= 0");
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
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

void check_crop_fits_model(const Config& cfg) {
  const int64_t crop = cfg.get_int("data.crop");
  const auto need = models::input_requirement(cfg);
  if (crop > 0 && crop < need.min_side)
    throw ConfigError(fmt::format("config key 'data.crop' = {} is smaller than the {}x{} the model takes ({})", crop,
                                  need.min_side, need.min_side, need.why));
}

uint64_t parameter_hash(torch::nn::Module& module) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a, 64 bit
  auto mix = [&](const torch::Tensor& t) {
    const auto c = t.detach().cpu().contiguous();
    const auto* p = static_cast<const unsigned char*>(c.data_ptr());
    const size_t n = static_cast<size_t>(c.numel()) * c.element_size();
    for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  };
  for (const auto& p : module.parameters()) mix(p);
  return h;
}

TrainSummary run_training(const Config& cfg, const TrainOptions& options) {
  // From the start: a Ctrl-C while the data and the model are being prepared stops the run after
  // its first step, with a checkpoint, instead of killing it on the spot.
  StopSignals signals;
  apply_threads(cfg);
  const torch::Device device = worker_device(cfg);
  CollectivePtr coll = options.collective ? options.collective : collective_from_environment(cfg);
  const int rank = coll->rank(), world = coll->world_size();
  const bool lead = rank == 0;

  // Data first: a bad photo or dataset name fails before anything is written.
  check_crop_fits_model(cfg);
  auto train_set = open_for_model(cfg, cfg.get_string("data.train"), data::Split::train);
  auto val_set = open_for_model(cfg, cfg.get_string("data.val"), data::Split::heldout);
  std::vector<data::DatasetPtr> test_sets;
  for (const auto& name : cfg.get_strings("data.test"))
    test_sets.push_back(open_for_model(cfg, name, data::Split::heldout));
  const auto preset = metric_preset(cfg);
  const bool skip_bad = data::skip_bad_samples(cfg);

  const data::LoaderOptions lopt = train_loader_options(cfg, *coll);
  data::Loader loader(train_set, lopt);
  const int64_t per_epoch = loader.batches_per_epoch();
  const int64_t max_steps = cfg.get_int("train.max_steps");
  const int64_t total_steps = max_steps > 0 ? max_steps : cfg.get_int("train.epochs") * per_epoch;
  if (total_steps <= 0) throw ConfigError("nothing to train: train.epochs and train.max_steps are 0");

  TrainSession session(cfg, coll, device, total_steps);
  auto& model = session.model();
  const bool has_d = session.has_discriminator();
  if (lead && model.vgg() && !model.vgg()->pretrained()) warn_random_vgg();

  // Rank 0 plans (fresh run or the one to resume) and tells the others.
  std::optional<store::RunStore> store;
  RunPlan plan;
  if (lead) {
    try {
      store.emplace(cfg.get_string("runtime.store"));
      RunIdentity id{world, device.str(), vgg_provenance(cfg, model)};
      for (const auto& [k, v] : train_set->provenance()) id.provenance[k] = v;
      plan = plan_run(*store, cfg, options.resume, id);
    } catch (const std::exception& e) {
      plan = RunPlan{};
      plan.error = e.what();
    }
  }
  std::string plan_text = plan.encode();
  broadcast_string(*coll, plan_text);
  if (!lead) plan = RunPlan::decode(plan_text);
  if (!plan.error.empty()) throw Error(lead ? plan.error : "rank 0: " + plan.error);

  // From here on the run exists: any error marks it failed (a crash leaves it 'running' with
  // its lock released, which shows as "died").
  try {
    CheckpointMeta start;
    if (!plan.checkpoint.empty()) {
      start = load_checkpoint(plan.checkpoint, session.parts(), rank);
      session.lay_out();
      if (lead) {
        log::info(fmt::format("resuming run {} from {} (step {})", plan.run_id, plan.checkpoint.string(), start.step));
        mark_resumed(*store, plan, start.step, total_steps);
      }
    }
    const int64_t run_id = plan.run_id;
    const fs::path run_dir = plan.run_dir;
    auto log_rows = [&](const std::vector<store::Metric>& rows) {
      if (lead) store->log_metrics(rows);
    };
    if (lead) {
      store->set_provenance(run_id, "world_size", std::to_string(world));
      store->set_provenance(run_id, "global_batch", std::to_string(lopt.batch_size * world));
      store->set_provenance(run_id, "metric_preset", preset.name);
      store->set_provenance(run_id, "metric_spec", preset.describe());
      store->set_provenance(run_id, "on_bad_sample", cfg.get_string("data.on_bad_sample"));
      store->set_provenance(run_id, "precision", session.execution().precision());
      store->set_provenance(run_id, "channels_last", session.execution().channels_last ? "true" : "false");
      store->set_provenance(run_id, "dist_backend", coll->backend());
      store->set_provenance(run_id, "device_name", compat::device_name(device));
      log::info(fmt::format("run {} | {} | config {} | {} steps ({} per epoch) | {} rank(s){} x batch {} | {} threads",
                            run_id, run_dir.string(), cfg.short_hash(), total_steps, per_epoch, world,
                            coll->backend() != "none" ? " (" + coll->backend() + ")" : "", lopt.batch_size,
                            torch::get_num_threads()));
    }

    TrainSummary summary;
    summary.run_id = run_id;
    summary.run_dir = run_dir;
    summary.world_size = world;
    summary.rank = rank;
    const int64_t log_every = std::max<int64_t>(1, cfg.get_int("runtime.log_every"));
    const bool progress_on = cfg.get_bool("runtime.progress") && lead;
    const int64_t ckpt_every = cfg.get_int("train.checkpoint_every");
    const int64_t val_every = cfg.get_int("train.val_every");
    const int64_t val_samples = cfg.get_int("train.val_samples");
    const int keep = static_cast<int>(cfg.get_int("train.keep_checkpoints"));
    const fs::path ckpt_dir = run_dir / "checkpoints";

    int64_t step = start.step;
    loader.set_position(static_cast<uint64_t>(start.epoch), start.batch_in_epoch);
    Progress progress(total_steps, step);

    // Bad samples the loaders skipped and grey files converted, summed over ranks (their shards
    // are disjoint); kept as the largest count seen, so a resumed run does not lose earlier ones.
    auto record_data_problems = [&] {
      const auto counts = all_reduce_values(*coll, {static_cast<double>(loader.bad_samples().count()),
                                                    static_cast<double>(train_set->converted_files())});
      if (!lead) return;
      const auto keep_max = [&](const char* key, double v) {
        const auto row = store->run(run_id);
        int64_t before = 0;
        if (row && row->provenance.count(key)) before = std::stoll(row->provenance.at(key));
        const int64_t now = std::max<int64_t>(before, std::llround(v));
        if (now > 0 || (row && row->provenance.count(key))) store->set_provenance(run_id, key, std::to_string(now));
      };
      keep_max("skipped_samples", counts[0]);
      keep_max("grayscale_converted", counts[1]);
    };

    // Every rank takes part (RNG states and parameter hashes are gathered); rank 0 writes, and
    // its success or failure is shared so that every rank stops together on an error.
    auto checkpoint = [&] {
      const auto rng = all_gather_rows(*coll, generator_state(torch::kCPU));
      torch::Tensor cuda_rng;
      if (device.is_cuda()) cuda_rng = all_gather_rows(*coll, generator_state(device));
      uint64_t h = parameter_hash(model);
      if (auto* d = session.discriminator()) h ^= parameter_hash(*d) * 31;
      const auto hashes = all_gather_rows(*coll, torch::tensor({static_cast<int64_t>(h)}, torch::kInt64));
      const bool in_sync = hashes.eq(hashes[0]).all().item<bool>();
      if (!in_sync && summary.ranks_in_sync && lead)
        log::loud(fmt::format("data-parallel ranks hold DIFFERENT parameters at step {} (ranks_in_sync=false)", step));
      summary.ranks_in_sync = summary.ranks_in_sync && in_sync;
      std::string error;
      if (lead) {
        try {
          CheckpointMeta meta;
          meta.step = step;
          meta.epoch = static_cast<int64_t>(loader.epoch());
          meta.batch_in_epoch = loader.batch_index();
          meta.config_text = cfg.canonical();
          meta.world_size = world;
          meta.rng_states = rng;
          meta.cuda_rng_states = cuda_rng;
          save_checkpoint(checkpoint_path(ckpt_dir, step), meta, session.parts());
          prune_checkpoints(ckpt_dir, keep);
        } catch (const std::exception& e) {
          error = e.what();
        }
      }
      const bool ok = all_reduce_values(*coll, {error.empty() ? 0.0 : 1.0})[0] == 0;
      if (!ok) throw Error(lead ? error : fmt::format("rank 0 could not write the checkpoint of step {}", step));
      record_data_problems();
    };
    auto record = [&](const char* split, const EvalResult& r) {
      log_rows({{run_id, step, split, r.dataset, "psnr", r.psnr, r.preset},
                {run_id, step, split, r.dataset, "ssim", r.ssim, r.preset},
                {run_id, step, split, r.dataset, "psnr_input", r.psnr_input, r.preset},
                {run_id, step, split, r.dataset, "ssim_input", r.ssim_input, r.preset}});
    };
    auto validate = [&] {
      EvalOptions eo;
      eo.max_samples = val_samples;
      eo.device = device;
      eo.memory_format = session.execution().memory_format();
      eo.skip_bad = skip_bad;
      const auto r = evaluate(model, *val_set, metric_preset(cfg, val_set->name()), eo, *coll);
      record("val", r);
      if (lead) {
        std::printf("val  step %lld | %s (%lld images, %s) | PSNR %.2f SSIM %.4f | input PSNR %.2f SSIM %.4f\n",
                    static_cast<long long>(step), r.dataset.c_str(), static_cast<long long>(r.samples),
                    r.preset.c_str(), r.psnr, r.ssim, r.psnr_input, r.ssim_input);
        std::fflush(stdout);
      }
    };

    {
      while (step < total_steps) {
        const StepResult res = session.step(loader.next_rolling(), step, signals.stop());
        ++step;
        if (res.skipped) {
          ++summary.skipped_steps;
          if (lead)
            log::warn(fmt::format("non-finite loss at step {} in term '{}': step skipped; {}", step, res.bad_term,
                                  res.diagnosis));
        } else if (step % log_every == 0 || step == total_steps) {
          const std::string line = progress.line(step, format_terms(res, has_d));
          if (progress_on) {
            std::printf("%s\n", line.c_str());
            std::fflush(stdout);
          }
          std::vector<store::Metric> rows{{run_id, step, "train", train_set->name(), "loss", res.loss, ""}};
          for (const auto& [name, v] : res.terms)
            rows.push_back({run_id, step, "train", train_set->name(), name, v, ""});
          if (has_d) rows.push_back({run_id, step, "train", train_set->name(), "d_loss", res.d_loss, ""});
          rows.push_back({run_id, step, "train", train_set->name(), "it_per_s", progress.rate(), ""});
          log_rows(rows);
        }
        if (val_every > 0 && step % val_every == 0 && step < total_steps) validate();
        if (ckpt_every > 0 && step % ckpt_every == 0 && step < total_steps) checkpoint();
        if (res.stop_requested) {
          if (lead) log::warn(fmt::format("stop requested (signal) at step {}: checkpointing and stopping", step));
          checkpoint();
          if (lead) store->finish_run(run_id, "interrupted");
          summary.steps = step;
          summary.interrupted = true;
          return summary;
        }
      }
      checkpoint();
      validate();
      for (const auto& ts : test_sets) {
        EvalOptions eo;
        eo.device = device;
        eo.memory_format = session.execution().memory_format();
        eo.save_dir = run_dir / "samples" / ts->name();
        eo.skip_bad = skip_bad;
        const auto r = evaluate(model, *ts, metric_preset(cfg, ts->name()), eo, *coll);
        record("test", r);
        if (r.skipped)
          log_rows({{run_id, step, "test", r.dataset, "skipped", static_cast<double>(r.skipped), r.preset}});
        summary.tests.push_back(r);
      }
      if (lead) {
        store->set_provenance(run_id, "steps", std::to_string(step));
        store->set_provenance(run_id, "epochs",
                              fmt::format("{:.2f}", static_cast<double>(step) / static_cast<double>(per_epoch)));
        store->set_provenance(run_id, "train_samples_per_epoch", std::to_string(train_set->size()));
        if (summary.skipped_steps)
          store->set_provenance(run_id, "skipped_steps", std::to_string(summary.skipped_steps));
        if (world > 1) store->set_provenance(run_id, "ranks_in_sync", summary.ranks_in_sync ? "true" : "false");
        store->finish_run(run_id, "completed");
      }
    }
    summary.steps = step;
    return summary;
  } catch (...) {
    if (lead) {
      try {
        store->finish_run(plan.run_id, "failed");
      } catch (const std::exception& e) {
        log::warn(fmt::format("could not mark run {} failed: {}", plan.run_id, e.what()));
      }
    }
    throw;
  }
}

}  // namespace dmgn::train
