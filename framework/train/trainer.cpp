#include "train/trainer.h"

#include <fmt/format.h>

#include <atomic>
#include <cmath>
#include <csignal>
#include <fstream>
#include <thread>

#include "core/compat.h"
#include "core/error.h"
#include "core/log.h"
#include "core/progress.h"
#include "data/loader.h"
#include "gitrev.h"
#include "models/model.h"
#include "nn/discriminators.h"
#include "store/run_store.h"
#include "train/checkpoint.h"
#include "train/objective.h"
#include "train/schedule.h"

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

ModelBatch to_model_batch(const data::Batch& b, const models::Model& m, const torch::Device& dev) {
  ModelBatch mb;
  mb.input = m.to_model(b.input.to(dev));
  mb.background = m.to_model(b.background.to(dev));
  if (b.noise.defined()) mb.noise = m.to_model(b.noise.to(dev));
  return mb;
}

std::string format_terms(const LossTerms& lt, double d_loss, bool has_d) {
  std::string s = fmt::format("loss {:.4f}", lt.total.item<double>());
  for (const auto& [name, t] : lt.terms) s += fmt::format(" {} {:.4f}", name, t.item<double>());
  if (has_d) s += fmt::format(" | D {:.4f}", d_loss);
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

TrainSummary run_training(const Config& cfg, const TrainOptions& options) {
  apply_threads(cfg);
  const torch::Device device = runtime_device(cfg);
  const auto seed = static_cast<uint64_t>(cfg.get_int("run.seed"));
  const std::string nonfinite = cfg.get_string("train.nonfinite");
  if (nonfinite != "stop" && nonfinite != "skip")
    throw ConfigError(fmt::format("config key 'train.nonfinite': '{}' is not one of stop, skip", nonfinite));

  // Data first: a bad photo or dataset name fails before anything is written.
  auto train_set = data::datasets().make(cfg.get_string("data.train"), cfg, data::Split::train);
  auto val_set = data::datasets().make(cfg.get_string("data.val"), cfg, data::Split::heldout);
  std::vector<data::DatasetPtr> test_sets;
  for (const auto& name : cfg.get_strings("data.test"))
    test_sets.push_back(data::datasets().make(name, cfg, data::Split::heldout));
  const auto preset = metric_preset(cfg);

  torch::manual_seed(seed);
  auto model = models::build_model(cfg);
  Objective objective(cfg, *model);
  nn::DiscriminatorPtr disc;
  if (objective.adversarial())
    disc = nn::discriminators().make(cfg.get_string("discriminator.name"), cfg.sub("discriminator"));
  model->to(device);
  if (disc) disc->to(device);
  if (model->vgg() && !model->vgg()->pretrained()) warn_random_vgg();

  const auto betas = cfg.get_floats("optim.betas");
  if (betas.size() != 2) throw ConfigError("config key 'optim.betas' needs two values");
  std::vector<torch::Tensor> g_params;
  for (auto& p : model->parameters())
    if (p.requires_grad()) g_params.push_back(p);
  torch::optim::Adam opt_g(g_params, torch::optim::AdamOptions(cfg.get_float("optim.lr"))
                                         .betas({betas[0], betas[1]}));
  std::unique_ptr<torch::optim::Adam> opt_d;
  if (disc)
    opt_d = std::make_unique<torch::optim::Adam>(
        disc->parameters(), torch::optim::AdamOptions(cfg.get_float("optim.d_lr")).betas({betas[0], betas[1]}));

  data::LoaderOptions lopt;
  lopt.batch_size = cfg.get_int("train.batch_size");
  lopt.seed = seed;
  lopt.workers = cfg.get_int("data.workers");
  data::Loader loader(train_set, lopt);
  const int64_t per_epoch = loader.batches_per_epoch();
  const int64_t max_steps = cfg.get_int("train.max_steps");
  const int64_t total_steps = max_steps > 0 ? max_steps : cfg.get_int("train.epochs") * per_epoch;
  if (total_steps <= 0) throw ConfigError("nothing to train: train.epochs and train.max_steps are 0");

  // Store and run folder.
  store::RunStore store(cfg.get_string("runtime.store"));
  const std::string hash = cfg.hash();
  const fs::path out_root = cfg.get_string("runtime.out_dir");
  int64_t run_id = 0;
  fs::path run_dir;
  CheckpointParts parts{model.get(), disc.get(), &opt_g, opt_d.get()};
  CheckpointMeta start;
  if (options.resume) {
    store::RunFilter f;
    f.config_hash = hash;
    for (const auto& r : store.runs(f)) {
      if (r.status == "completed" || r.run_dir.empty()) continue;
      if (latest_checkpoint(fs::path(r.run_dir) / "checkpoints")) {
        run_id = r.id;
        run_dir = r.run_dir;
      }
    }
    if (run_id) {
      const auto ckpt = *latest_checkpoint(run_dir / "checkpoints");
      start = load_checkpoint(ckpt, parts);
      log::info(fmt::format("resuming run {} from {} (step {})", run_id, ckpt.string(), start.step));
      store.reopen_run(run_id);
      store.set_provenance(run_id, "resumed_at_step", std::to_string(start.step));
    } else {
      log::info("--resume: no unfinished run of this config with a checkpoint; starting fresh");
    }
  }
  if (!run_id) {
    store::RunInfo info;
    info.config_hash = hash;
    info.name = cfg.get_string("run.name");
    info.experiment = cfg.get_string("run.experiment");
    info.variant = cfg.get_string("run.variant");
    info.sweep = cfg.get_string("run.sweep");
    info.task = cfg.get_string("task.name");
    info.config_text = cfg.canonical();
    info.seed = static_cast<int64_t>(seed);
    info.git_revision = DMGN_GIT_REVISION;
    info.torch_version = compat::torch_version();
    info.device = device.str();
    info.world_size = 1;
    info.provenance = vgg_provenance(cfg, *model);
    for (const auto& [k, v] : train_set->provenance()) info.provenance[k] = v;
    run_id = store.begin_run(info);
    run_dir = out_root / fmt::format("{:05d}-{}", run_id, cfg.short_hash());
    fs::create_directories(run_dir / "checkpoints");
    {
      std::ofstream(run_dir / "config.toml") << cfg.canonical();
    }
    // The run folder is recorded as an artifact and in the run row (for --resume).
    store.add_artifact(run_id, "run_dir", run_dir.string());
    store.set_run_dir(run_id, run_dir.string());
  }
  store.set_provenance(run_id, "world_size", "1");
  store.set_provenance(run_id, "metric_preset", metrics::preset_name(preset));
  log::info(fmt::format("run {} | {} | config {} | {} steps ({} per epoch) | {} threads", run_id,
                        run_dir.string(), cfg.short_hash(), total_steps, per_epoch,
                        torch::get_num_threads()));

  TrainSummary summary;
  summary.run_id = run_id;
  summary.run_dir = run_dir;
  const int64_t log_every = std::max<int64_t>(1, cfg.get_int("runtime.log_every"));
  const bool progress_on = cfg.get_bool("runtime.progress");
  const int64_t ckpt_every = cfg.get_int("train.checkpoint_every");
  const int64_t val_every = cfg.get_int("train.val_every");
  const int64_t val_samples = cfg.get_int("train.val_samples");
  const int keep = static_cast<int>(cfg.get_int("train.keep_checkpoints"));
  const fs::path ckpt_dir = run_dir / "checkpoints";

  const LrSchedule schedule(cfg, total_steps);
  const double lr_g = cfg.get_float("optim.lr"), lr_d = cfg.get_float("optim.d_lr");
  int64_t step = start.step;
  uint64_t epoch = static_cast<uint64_t>(start.epoch);
  loader.set_position(epoch, start.batch_in_epoch);
  Progress progress(total_steps, step);
  StopSignals signals;

  auto checkpoint = [&] {
    CheckpointMeta meta;
    meta.step = step;
    meta.epoch = static_cast<int64_t>(loader.epoch());
    meta.batch_in_epoch = loader.batch_index();
    meta.config_text = cfg.canonical();
    save_checkpoint(checkpoint_path(ckpt_dir, step), meta, parts);
    prune_checkpoints(ckpt_dir, keep);
  };
  auto validate = [&] {
    EvalOptions eo;
    eo.max_samples = val_samples;
    eo.device = device;
    const auto r = evaluate(*model, *val_set, preset, eo);
    store.log_metrics({{run_id, step, "val", r.dataset, "psnr", r.psnr, r.preset},
                       {run_id, step, "val", r.dataset, "ssim", r.ssim, r.preset},
                       {run_id, step, "val", r.dataset, "psnr_input", r.psnr_input, r.preset},
                       {run_id, step, "val", r.dataset, "ssim_input", r.ssim_input, r.preset}});
    std::printf("val  step %lld | %s (%lld images, %s) | PSNR %.2f SSIM %.4f | input PSNR %.2f SSIM %.4f\n",
                static_cast<long long>(step), r.dataset.c_str(), static_cast<long long>(r.samples),
                r.preset.c_str(), r.psnr, r.ssim, r.psnr_input, r.ssim_input);
    std::fflush(stdout);
  };

  try {
    model->train();
    if (disc) disc->train();
    while (step < total_steps) {
      if (signals.stop()) {
        log::warn(fmt::format("signal {} received at step {}: checkpointing and stopping",
                              g_stop_signal.load(), step));
        checkpoint();
        store.finish_run(run_id, "interrupted");
        summary.steps = step;
        summary.interrupted = true;
        return summary;
      }
      auto batch = loader.next();
      if (!batch) {
        loader.start_epoch(++epoch);
        continue;
      }
      schedule.apply(opt_g, lr_g, step);
      if (opt_d) schedule.apply(*opt_d, lr_d, step);
      const ModelBatch mb = to_model_batch(*batch, *model, device);
      auto out = model->forward(mb.input);

      double d_loss = 0;
      if (disc) {  // Eq. 14: critic step on the detached output
        opt_d->zero_grad();
        auto ld = objective.critic(*disc, out, mb);
        d_loss = ld.item<double>();
        if (std::isfinite(d_loss)) {
          ld.backward();
          opt_d->step();
          objective.after_critic_step(*disc);
        }
      }
      if (disc)
        for (auto& p : disc->parameters()) p.set_requires_grad(false);
      auto lt = objective.generator(out, mb, disc.get());
      const std::string bad = lt.first_nonfinite();
      const bool d_bad = disc && !std::isfinite(d_loss);
      if (!bad.empty() || d_bad) {
        const std::string term = bad.empty() ? "discriminator critic (Eq. 14)" : bad;
        if (nonfinite == "stop")
          throw Error(fmt::format("non-finite loss at step {} in term '{}' (train.nonfinite = "
                                  "\"stop\"; set \"skip\" to drop such steps)",
                                  step + 1, term));
        log::warn(fmt::format("non-finite loss at step {} in term '{}': step skipped", step + 1, term));
        ++summary.skipped_steps;
        if (disc)
          for (auto& p : disc->parameters()) p.set_requires_grad(true);
        ++step;
        continue;
      }
      opt_g.zero_grad();
      lt.total.backward();
      opt_g.step();
      if (disc)
        for (auto& p : disc->parameters()) p.set_requires_grad(true);
      ++step;

      if (step % log_every == 0 || step == total_steps) {
        const std::string line = progress.line(step, format_terms(lt, d_loss, disc != nullptr));
        if (progress_on) {
          std::printf("%s\n", line.c_str());
          std::fflush(stdout);
        }
        std::vector<store::Metric> rows{{run_id, step, "train", train_set->name(), "loss",
                                         lt.total.item<double>(), ""}};
        for (const auto& [name, t] : lt.terms)
          rows.push_back({run_id, step, "train", train_set->name(), name, t.item<double>(), ""});
        if (disc) rows.push_back({run_id, step, "train", train_set->name(), "d_loss", d_loss, ""});
        rows.push_back({run_id, step, "train", train_set->name(), "it_per_s", progress.rate(), ""});
        store.log_metrics(rows);
      }
      if (val_every > 0 && step % val_every == 0 && step < total_steps) validate();
      if (ckpt_every > 0 && step % ckpt_every == 0 && step < total_steps) checkpoint();
    }
    checkpoint();
    validate();
    for (const auto& ts : test_sets) {
      EvalOptions eo;
      eo.device = device;
      eo.save_dir = run_dir / "samples" / ts->name();
      const auto r = evaluate(*model, *ts, preset, eo);
      store.log_metrics({{run_id, step, "test", r.dataset, "psnr", r.psnr, r.preset},
                         {run_id, step, "test", r.dataset, "ssim", r.ssim, r.preset},
                         {run_id, step, "test", r.dataset, "psnr_input", r.psnr_input, r.preset},
                         {run_id, step, "test", r.dataset, "ssim_input", r.ssim_input, r.preset}});
      summary.tests.push_back(r);
    }
    store.set_provenance(run_id, "steps", std::to_string(step));
    store.set_provenance(run_id, "epochs",
                         fmt::format("{:.2f}", static_cast<double>(step) / static_cast<double>(per_epoch)));
    store.set_provenance(run_id, "train_samples_per_epoch", std::to_string(train_set->size()));
    if (summary.skipped_steps)
      store.set_provenance(run_id, "skipped_steps", std::to_string(summary.skipped_steps));
    store.finish_run(run_id, "completed");
  } catch (...) {
    store.finish_run(run_id, "failed");
    throw;
  }
  summary.steps = step;
  return summary;
}

}  // namespace dmgn::train
