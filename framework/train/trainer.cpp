#include "train/trainer.h"

#include <fmt/format.h>

#include <atomic>
#include <cmath>
#include <csignal>
#include <optional>

#include "core/compat.h"
#include "core/error.h"
#include "core/log.h"
#include "core/options.h"
#include "core/progress.h"
#include "data/benchmarks.h"
#include "data/loader.h"
#include "models/model.h"
#include "models/system_info.h"
#include "store/run_store.h"
#include "train/checkpoint.h"
#include "train/run_record.h"
#include "train/recipe.h"
#include "train/threads.h"

namespace dmgn::train {
namespace fs = std::filesystem;

namespace {

std::atomic<int> g_stop_signal{0};

extern "C" void on_stop_signal(int sig) { g_stop_signal = sig; }

// Installs SIGINT/SIGTERM/SIGUSR1 handlers for the lifetime of a run, restoring the previous
// ones. SIGUSR1 is the scheduler's warning before a time limit (Slurm's --signal=USR1@S): the
// same stop, reported as a request to be requeued.
class StopSignals {
 public:
  StopSignals() {
    g_stop_signal = 0;
    prev_int_ = std::signal(SIGINT, on_stop_signal);
    prev_term_ = std::signal(SIGTERM, on_stop_signal);
    prev_usr1_ = std::signal(SIGUSR1, on_stop_signal);
  }
  ~StopSignals() {
    std::signal(SIGINT, prev_int_);
    std::signal(SIGTERM, prev_term_);
    std::signal(SIGUSR1, prev_usr1_);
  }
  bool stop() const { return g_stop_signal != 0; }
  bool requeue() const { return g_stop_signal == SIGUSR1; }

 private:
  void (*prev_int_)(int);
  void (*prev_term_)(int);
  void (*prev_usr1_)(int);
};

// The datasets a dataset is scored as: its parts (one per task), or itself.
std::vector<std::shared_ptr<const data::Dataset>> scored_parts(const data::DatasetPtr& ds) {
  auto parts = ds->parts();
  if (parts.empty()) parts.push_back(ds);
  return parts;
}

std::string format_terms(const StepResult& r) {
  std::string s = fmt::format("loss {:.4f}", r.loss);
  for (const auto& [name, v] : r.terms) s += fmt::format(" {} {:.4f}", name, v);
  for (const auto& [name, v] : r.others) s += fmt::format(" | {} {:.4f}", name, v);
  return s;
}

// The VGG-19 the recipe's losses use, as the run records it (the network knows its file).
std::map<std::string, std::string> vgg_provenance(const nn::Vgg19& vgg) {
  if (!vgg) return {{"vgg_weights", "none"}};
  if (vgg->pretrained()) return {{"vgg_weights", "file"}, {"vgg_file", vgg->weights_file().string()}};
  return {{"vgg_weights", "random"}};
}

void warn_random_vgg(const nn::Vgg19& vgg) {
  const std::string key = vgg->weights_key().empty() ? "the VGG-19 weights key" : vgg->weights_key();
  log::loud(fmt::format(
      "VGG-19 weights: RANDOM ({} is empty).\n"
      "The hypercolumn head and the perceptual loss use an untrained VGG-19, unlike the paper.\n"
      "Results are NOT comparable to the paper; the run is marked vgg_weights=random.\n"
      "Export ImageNet weights once (see README, 'VGG-19 weights') and set {}.",
      key, key));
}

// One run on this worker, step by step. Rank 0 alone opens the store and writes; every rank
// takes part in the collectives (plan, steps, checkpoints, evaluation).
// The [train], [data] and [runtime] keys the run loop reads, parsed once.
struct RunSettings {
  std::string train_set, val_set, recipe, on_bad_sample, store;
  std::vector<std::string> test_sets;
  int64_t epochs = 0, max_steps = 0, val_every = 0, checkpoint_every = 0, keep_checkpoints = 1, val_samples = 0;
  int64_t log_every = 1;
  bool progress = true;

  static RunSettings from_config(const Config& cfg) {
    RunSettings s;
    read_options(cfg, {{"data.train", &s.train_set}, {"data.val", &s.val_set}, {"data.test", &s.test_sets},
                       {"data.on_bad_sample", &s.on_bad_sample}, {"train.recipe", &s.recipe},
                       {"train.epochs", &s.epochs}, {"train.max_steps", &s.max_steps},
                       {"train.val_every", &s.val_every}, {"train.checkpoint_every", &s.checkpoint_every},
                       {"train.keep_checkpoints", &s.keep_checkpoints}, {"train.val_samples", &s.val_samples},
                       {"runtime.store", &s.store}, {"runtime.log_every", &s.log_every},
                       {"runtime.progress", &s.progress}});
    s.log_every = std::max<int64_t>(1, s.log_every);
    return s;
  }
};

class TrainRun {
 public:
  TrainRun(const Config& cfg, const TrainOptions& options, const StopSignals& signals);
  TrainSummary execute();

 private:
  void open_data();
  void plan(const TrainOptions& options);
  void resume();
  void record_provenance();
  bool train();  // false when a stop was requested
  // Checkpointed, marked interrupted: a signal stopped the run (in a step, a validation or the
  // test), and `--resume` continues it from here.
  void stop_interrupted(const char* where);
  void log_step(const StepResult& res);
  void checkpoint();
  void record_data_problems();
  void record(const char* split, const EvalResult& r);
  // The final test scores per image, as an evaluation of the run (paired comparisons in reports).
  void record_images(const data::Dataset& ds, const EvalResult& r);
  EvalOptions eval_options() const;
  bool validate();  // false when a stop was requested during it (nothing recorded)
  bool validate(const data::Dataset& ds);
  void test_and_finish();
  void log_rows(const std::vector<store::Metric>& rows) {
    if (lead_) store_->log_metrics(rows);
  }

  const Config& cfg_;
  const RunSettings s_;
  // A training-free method (models::SystemInfo::training_free): no training set, loader or
  // step; the run is its checkpoint (config only) and its evaluations at step 0.
  const bool free_;
  const StopSignals& signals_;
  torch::Device device_;
  CollectivePtr coll_;
  int rank_, world_;
  bool lead_;
  data::DatasetPtr train_set_;
  // Scored separately: a dataset's parts (data::Dataset::parts, e.g. one per task), else itself.
  std::vector<std::shared_ptr<const data::Dataset>> val_sets_, test_sets_;
  data::LoaderOptions lopt_;
  std::unique_ptr<data::BatchStream> loader_;
  int64_t per_epoch_ = 0, total_steps_ = 0, step_ = 0;
  RecipePtr recipe_;
  std::optional<store::RunStore> store_;
  RunPlan plan_;
  TrainSummary summary_;
  std::unique_ptr<Progress> progress_;
  bool progress_on_ = false;  // printed by rank 0 (runtime.progress)
  std::shared_ptr<Footprint> footprint_ = std::make_shared<Footprint>();  // evaluation memory
  ThreadGovernor threads_;  // runtime.threads (0: the free cores, re-measured while training)
};

TrainRun::TrainRun(const Config& cfg, const TrainOptions& options, const StopSignals& signals)
    : cfg_(cfg),
      s_(RunSettings::from_config(cfg)),
      free_(models::training_free(cfg)),
      signals_(signals),
      device_(worker_device(cfg)),
      threads_(cfg) {
  coll_ = options.collective ? options.collective : collective_from_environment(cfg);
  rank_ = coll_->rank();
  world_ = coll_->world_size();
  lead_ = rank_ == 0;
  progress_on_ = lead_ && s_.progress;
  open_data();  // a bad photo or dataset name fails before anything is written
  recipe_ = build_recipe({cfg_, coll_, device_, total_steps_});
  // Crops the loss terms or the critic cannot take (e.g. a perceptual loss on a 1/4 side
  // output) fail here, before the run exists, not in the first step.
  if (!free_) check_crop_fits_training(cfg_, recipe_->model().spec());
  // Optional loss terms this configuration of the model drops, one line each (a term dropped
  // from batches without its target is said by the term set when it first happens).
  if (lead_)
    for (const auto& d : losses::plan_terms(cfg_, recipe_->model().spec()).dropped)
      log::info(fmt::format("loss term '{}' dropped: {} (optional term)", d.name, d.reason));
  const auto vgg = recipe_->loss_vgg();
  if (lead_ && vgg && !vgg->pretrained()) warn_random_vgg(vgg);
  plan(options);
}

void TrainRun::open_data() {
  for (const auto& name : s_.test_sets)
    for (auto& part : scored_parts(open_for_model(cfg_, name, data::Split::heldout))) test_sets_.push_back(part);
  if (free_) {  // evaluated as built: the test sets alone (validating would score the same model again)
    if (test_sets_.empty()) throw ConfigError("nothing to evaluate: a training-free model's run scores data.test, which is empty");
    return;
  }
  check_crop_fits_model(cfg_);
  train_set_ = open_for_model(cfg_, s_.train_set, data::Split::train);
  val_sets_ = scored_parts(open_for_model(cfg_, s_.val_set, data::Split::heldout));
  lopt_ = train_loader_options(cfg_, *coll_);
  loader_ = data::open_stream(train_set_, lopt_);
  per_epoch_ = loader_->batches_per_epoch();
  total_steps_ = s_.max_steps > 0 ? s_.max_steps : s_.epochs * per_epoch_;
  if (total_steps_ <= 0) throw ConfigError("nothing to train: train.epochs and train.max_steps are 0");
}

// Rank 0 plans (a fresh run or the one to resume) and tells the others.
void TrainRun::plan(const TrainOptions& options) {
  if (lead_) {
    try {
      store_.emplace(s_.store);
      RunIdentity id{world_, device_.str(), vgg_provenance(recipe_->loss_vgg())};
      if (train_set_)
        for (const auto& [k, v] : train_set_->provenance()) id.provenance[k] = v;
      plan_ = plan_run(*store_, cfg_, options.resume, id);
    } catch (const std::exception& e) {
      plan_ = RunPlan{};
      plan_.error = e.what();
    }
  }
  std::string text = plan_.encode();
  broadcast_string(*coll_, text);
  if (!lead_) plan_ = RunPlan::decode(text);
  if (!plan_.error.empty()) throw Error(lead_ ? plan_.error : "rank 0: " + plan_.error);
  summary_.run_id = plan_.run_id;
  summary_.run_dir = plan_.run_dir;
  summary_.world_size = world_;
  summary_.rank = rank_;
}

// From here on the run exists: any error marks it failed (a crash leaves it 'running' with its
// lock released, which shows as "died").
TrainSummary TrainRun::execute() {
  try {
    resume();
    record_provenance();
    if (!train()) return summary_;
    test_and_finish();
    return summary_;
  } catch (...) {
    if (lead_) {
      try {
        store_->finish_run(plan_.run_id, "failed");
      } catch (const std::exception& e) {
        log::warn(fmt::format("could not mark run {} failed: {}", plan_.run_id, e.what()));
      }
    }
    throw;
  }
}

void TrainRun::resume() {
  CheckpointMeta start;
  if (!plan_.checkpoint.empty()) {
    start = load_checkpoint(plan_.checkpoint, recipe_->parts(), rank_);
    recipe_->lay_out();
    if (lead_) {
      log::info(fmt::format("resuming run {} from {} (step {})", plan_.run_id, plan_.checkpoint.string(), start.step));
      mark_resumed(*store_, plan_, start.step, total_steps_);
    }
  }
  step_ = start.step;
  if (loader_) loader_->set_position(static_cast<uint64_t>(start.epoch), start.batch_in_epoch);
  progress_ = std::make_unique<Progress>(total_steps_, step_);
}

void TrainRun::record_provenance() {
  if (!lead_) return;
  const auto preset = metric_preset(cfg_);
  const auto& ex = recipe_->execution();
  const auto id = plan_.run_id;
  for (const auto& [k, v] : std::vector<std::pair<std::string, std::string>>{
           {"world_size", std::to_string(world_)},
           {"global_batch", std::to_string(lopt_.batch_size * world_)},
           {"metric_preset", preset.name},
           {"metric_spec", preset.describe()},
           {"on_bad_sample", s_.on_bad_sample},
           {"precision", ex.precision()},
           {"channels_last", ex.channels_last ? "true" : "false"},
           {"dist_backend", coll_->backend()},
           {"device_name", compat::device_name(device_)},
           {"recipe", free_ ? "none (training-free)" : s_.recipe}})
    store_->set_provenance(id, k, v);
  if (free_) {
    store_->set_provenance(id, "training_free", "true");
    log::info(fmt::format("run {} | {} | config {} | training-free: evaluated as built | {} threads", id,
                          plan_.run_dir.string(), cfg_.short_hash(), torch::get_num_threads()));
    return;
  }
  // The steps this run trains for (its ETA while it runs); "steps" is what it trained, at the end.
  store_->set_provenance(id, "total_steps", std::to_string(total_steps_));
  log::info(fmt::format("run {} | {} | config {} | {} steps ({} per epoch) | {} rank(s){} x batch {} | {} threads", id,
                        plan_.run_dir.string(), cfg_.short_hash(), total_steps_, per_epoch_, world_,
                        coll_->backend() != "none" ? " (" + coll_->backend() + ")" : "", lopt_.batch_size,
                        torch::get_num_threads()));
}

bool TrainRun::train() {
  const int64_t val_every = s_.val_every, ckpt_every = s_.checkpoint_every;
  while (step_ < total_steps_) {
    StepResult res = recipe_->step(loader_->next_rolling(), step_, signals_.stop());
    ++step_;
    const bool last = step_ == total_steps_;
    const auto at = [&](int64_t every) { return every > 0 && step_ % every == 0; };
    const bool validate_now = at(val_every) && !last, checkpoint_now = at(ckpt_every) && !last;
    // runtime.host_sync = "log": the step's results are read where the host needs them, the
    // same steps on every rank.
    if (res.pending && (at(s_.log_every) || validate_now || checkpoint_now || last))
      recipe_->settle(res, signals_.stop());
    threads_.tick();
    log_step(res);
    if (validate_now && !validate()) {
      stop_interrupted("during validation");
      return false;
    }
    if (checkpoint_now) checkpoint();
    if (res.stop_requested) {
      stop_interrupted("");
      return false;
    }
  }
  return true;
}

void TrainRun::stop_interrupted(const char* where) {
  if (lead_)
    log::warn(fmt::format("stop requested (signal) at step {}{}{}: checkpointing and stopping", step_,
                          *where ? " " : "", where));
  checkpoint();
  if (lead_) store_->finish_run(plan_.run_id, "interrupted");
  summary_.steps = step_;
  summary_.interrupted = true;
  summary_.requeue = signals_.requeue();
}

void TrainRun::log_step(const StepResult& res) {
  if (res.pending) return;  // runtime.host_sync = "log", not a settling step
  summary_.skipped_steps += res.skipped_steps;
  if (res.skipped_steps > 0 && lead_) {
    if (res.skipped_steps == 1 && res.first_skipped_step == step_ - 1)
      log::warn(fmt::format("non-finite loss at step {} in term '{}': step skipped; {}", step_, res.bad_term,
                            res.diagnosis));
    else
      log::warn(fmt::format("non-finite loss in {} step(s) up to step {}, the first at step {} in term '{}': "
                            "those steps skipped; {}",
                            res.skipped_steps, step_, res.first_skipped_step + 1, res.bad_term, res.diagnosis));
  }
  if (res.skipped) return;
  if (step_ % s_.log_every != 0 && step_ != total_steps_) return;
  const std::string line = progress_->line(step_, format_terms(res));
  if (progress_on_) {
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
  }
  const auto id = plan_.run_id;
  const auto& ds = train_set_->name();
  std::vector<store::Metric> rows{{id, step_, "train", ds, "loss", res.loss, ""}};
  for (const auto& [name, v] : res.terms) rows.push_back({id, step_, "train", ds, name, v, ""});
  for (const auto& [name, v] : res.others) rows.push_back({id, step_, "train", ds, name, v, ""});
  rows.push_back({id, step_, "train", ds, "it_per_s", progress_->rate(), ""});
  log_rows(rows);
}

// Every rank takes part (RNG states and parameter hashes are gathered); rank 0 writes, and its
// success or failure is shared so that every rank stops together on an error.
void TrainRun::checkpoint() {
  const auto rng = all_gather_rows(*coll_, generator_state(torch::kCPU));
  torch::Tensor cuda_rng;
  if (device_.is_cuda()) cuda_rng = all_gather_rows(*coll_, generator_state(device_));
  const auto h = static_cast<int64_t>(recipe_->parameter_hash());
  const auto hashes = all_gather_rows(*coll_, torch::tensor({h}, torch::kInt64));
  const bool in_sync = hashes.eq(hashes[0]).all().item<bool>();
  if (!in_sync && summary_.ranks_in_sync && lead_)
    log::loud(fmt::format("data-parallel ranks hold DIFFERENT parameters at step {} (ranks_in_sync=false)", step_));
  summary_.ranks_in_sync = summary_.ranks_in_sync && in_sync;
  std::string error;
  if (lead_) {
    try {
      CheckpointMeta meta;
      meta.step = step_;
      meta.epoch = loader_ ? static_cast<int64_t>(loader_->epoch()) : 0;
      meta.batch_in_epoch = loader_ ? loader_->batch_index() : 0;
      meta.config_text = cfg_.canonical();
      meta.world_size = world_;
      meta.rng_states = rng;
      meta.cuda_rng_states = cuda_rng;
      const fs::path dir = plan_.run_dir / "checkpoints";
      save_checkpoint(checkpoint_path(dir, step_), meta, recipe_->parts());
      prune_checkpoints(dir, static_cast<int>(s_.keep_checkpoints));
    } catch (const std::exception& e) {
      error = e.what();
    }
  }
  const bool ok = all_reduce_values(*coll_, {error.empty() ? 0.0 : 1.0})[0] == 0;
  if (!ok) throw Error(lead_ ? error : fmt::format("rank 0 could not write the checkpoint of step {}", step_));
  record_data_problems();
}

// Bad samples the loaders skipped and grey files converted, summed over ranks (their shards are
// disjoint); kept as the largest count seen, so a resumed run does not lose earlier ones.
void TrainRun::record_data_problems() {
  if (!loader_) return;
  const auto counts = all_reduce_values(*coll_, {static_cast<double>(loader_->bad_sample_count()),
                                                 static_cast<double>(train_set_->converted_files())});
  if (!lead_) return;
  const auto keep_max = [&](const char* key, double v) {
    const auto row = store_->run(plan_.run_id);
    int64_t before = 0;
    if (row && row->provenance.count(key)) before = std::stoll(row->provenance.at(key));
    const int64_t now = std::max<int64_t>(before, std::llround(v));
    if (now > 0 || (row && row->provenance.count(key))) store_->set_provenance(plan_.run_id, key, std::to_string(now));
  };
  keep_max("skipped_samples", counts[0]);
  keep_max("grayscale_converted", counts[1]);
}

void TrainRun::record(const char* split, const EvalResult& r) {
  const auto id = plan_.run_id;
  log_rows({{id, step_, split, r.dataset, "psnr", r.psnr, r.preset},
            {id, step_, split, r.dataset, "ssim", r.ssim, r.preset},
            {id, step_, split, r.dataset, "psnr_input", r.psnr_input, r.preset},
            {id, step_, split, r.dataset, "ssim_input", r.ssim_input, r.preset}});
}

EvalOptions TrainRun::eval_options() const {
  EvalOptions eo;
  eo.device = device_;
  eo.memory_format = recipe_->execution().memory_format();
  eo.skip_bad = data::skip_bad_samples(cfg_);
  eo.stop = [this] { return signals_.stop(); };
  eo.memory_budget = memory_budget(cfg_);
  eo.footprint = footprint_;  // measured once per run
  return eo;
}

bool TrainRun::validate() {
  for (const auto& vs : val_sets_)
    if (!validate(*vs)) return false;
  return true;
}

bool TrainRun::validate(const data::Dataset& ds) {
  EvalOptions eo = eval_options();
  eo.max_samples = s_.val_samples;
  const auto r = evaluate(recipe_->model(), ds, metric_preset(cfg_, ds), eo, *coll_);
  if (r.interrupted) return false;
  record("val", r);
  if (!lead_) return true;
  std::printf("val  step %lld | %s (%lld images, %s) | PSNR %.2f SSIM %.4f | input PSNR %.2f SSIM %.4f\n",
              static_cast<long long>(step_), r.dataset.c_str(), static_cast<long long>(r.samples), r.preset.c_str(),
              r.psnr, r.ssim, r.psnr_input, r.ssim_input);
  std::fflush(stdout);
  return true;
}

void TrainRun::record_images(const data::Dataset& ds, const EvalResult& r) {
  if (!lead_ || r.images.empty()) return;
  store::Evaluation e = evaluation_record(r, ds);
  e.run_id = plan_.run_id;
  e.step = step_;
  e.config_hash = cfg_.hash();
  e.provenance = "end_of_training=true " + e.provenance;
  e.origin = "train";
  store_->log_evaluation(e, image_records(r));
}

// The final checkpoint, then validation and the tests; a signal during them stops the run as
// interrupted (its checkpoint is the final one: `--resume` only evaluates).
void TrainRun::test_and_finish() {
  checkpoint();
  const auto interrupted = [&] {
    if (lead_) {
      log::warn(fmt::format("stop requested (signal) while evaluating the final model (step {}): stopping", step_));
      store_->finish_run(plan_.run_id, "interrupted");
    }
    summary_.steps = step_;
    summary_.interrupted = true;
  };
  if (!validate()) return interrupted();  // every rank learns of a signal on any (evaluate's gather)
  for (const auto& ts : test_sets_) {
    EvalOptions eo = eval_options();
    eo.save_dir = plan_.run_dir / "samples" / ts->name();
    const auto r = evaluate(recipe_->model(), *ts, metric_preset(cfg_, *ts), eo, *coll_);
    if (r.interrupted) return interrupted();
    record("test", r);
    record_images(*ts, r);
    if (r.skipped)
      log_rows({{plan_.run_id, step_, "test", r.dataset, "skipped", static_cast<double>(r.skipped), r.preset}});
    summary_.tests.push_back(r);
  }
  summary_.steps = step_;
  if (!lead_) return;
  const auto id = plan_.run_id;
  store_->set_provenance(id, "steps", std::to_string(step_));
  // The final weights' fingerprint (FNV-1a of every module's parameter bytes): two runs with the
  // same value ended with the same weights, e.g. a requeued run and one never interrupted.
  store_->set_provenance(id, "parameters_fnv1a", fmt::format("{:016x}", recipe_->parameter_hash()));
  if (train_set_) {
    store_->set_provenance(id, "epochs",
                           fmt::format("{:.2f}", static_cast<double>(step_) / static_cast<double>(per_epoch_)));
    store_->set_provenance(id, "train_samples_per_epoch", std::to_string(train_set_->size()));
  }
  if (summary_.skipped_steps) store_->set_provenance(id, "skipped_steps", std::to_string(summary_.skipped_steps));
  if (world_ > 1) store_->set_provenance(id, "ranks_in_sync", summary_.ranks_in_sync ? "true" : "false");
  store_->finish_run(id, "completed");
}

}  // namespace

TrainSummary run_training(const Config& cfg, const TrainOptions& options) {
  // From the start: a Ctrl-C while the data and the model are being prepared stops the run after
  // its first step, with a checkpoint, instead of killing it on the spot.
  StopSignals signals;
  TrainRun run(cfg, options, signals);
  return run.execute();
}

}  // namespace dmgn::train
