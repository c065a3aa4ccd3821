#include "train/session.h"

#include <fmt/format.h>

#include <cmath>

#include "core/error.h"
#include "core/rng.h"
#include "data/benchmarks.h"
#include "train/nonfinite.h"

namespace dmgn::train {

namespace {

ModelBatch to_model_batch(const data::Batch& b, const models::Model& m, const Execution& ex) {
  ModelBatch mb;
  mb.input = m.to_model(ex.place(b.input));
  mb.background = m.to_model(ex.place(b.background));
  if (b.noise.defined()) mb.noise = m.to_model(ex.place(b.noise));
  return mb;
}

constexpr const char* kCriticTerm = "discriminator critic (Eq. 14)";

}  // namespace

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

TrainSession::TrainSession(const Config& cfg, CollectivePtr collective, torch::Device device,
                           int64_t total_steps)
    : coll_(std::move(collective)), device_(device), exec_(Execution::from_config(cfg, device)),
      nonfinite_(cfg.get_string("train.nonfinite")) {
  if (nonfinite_ != "stop" && nonfinite_ != "skip")
    throw ConfigError(fmt::format("config key 'train.nonfinite': '{}' is not one of stop, skip", nonfinite_));
  const auto seed = static_cast<uint64_t>(cfg.get_int("run.seed"));
  torch::manual_seed(seed);
  model_ = models::build_model(cfg);
  objective_ = std::make_unique<Objective>(cfg, *model_);
  if (objective_->adversarial())
    disc_ = nn::discriminators().make(cfg.get_string("discriminator.name"), cfg.sub("discriminator"));
  model_->to(device_);
  if (disc_) disc_->to(device_);
  lay_out();
  exec_.apply_cudnn();
  // DDP: every rank starts from rank 0's weights. Afterwards each rank draws its own random
  // numbers (e.g. the gradient penalty's interpolation weights) from a rank-derived stream.
  broadcast_module(*coll_, *model_);
  if (disc_) broadcast_module(*coll_, *disc_);
  if (coll_->rank() > 0) torch::manual_seed(derive_seed(seed, "rank", static_cast<uint64_t>(coll_->rank())));

  const auto betas = cfg.get_floats("optim.betas");
  if (betas.size() != 2) throw ConfigError("config key 'optim.betas' needs two values");
  lr_g_ = cfg.get_float("optim.lr");
  lr_d_ = cfg.get_float("optim.d_lr");
  std::vector<torch::Tensor> g_params;
  for (auto& p : model_->parameters())
    if (p.requires_grad()) g_params.push_back(p);
  const double bucket_mb = cfg.get_float("runtime.bucket_mb");
  if (!(bucket_mb > 0)) throw ConfigError("config key 'runtime.bucket_mb' must be > 0");
  const auto bucket_bytes = static_cast<int64_t>(bucket_mb * 1024 * 1024);
  g_buckets_ = std::make_unique<GradientBuckets>(g_params, bucket_bytes);
  opt_g_ = std::make_unique<torch::optim::Adam>(
      g_params, torch::optim::AdamOptions(lr_g_).betas({betas[0], betas[1]}));
  if (disc_) {
    d_buckets_ = std::make_unique<GradientBuckets>(disc_->parameters(), bucket_bytes);
    opt_d_ = std::make_unique<torch::optim::Adam>(
        disc_->parameters(), torch::optim::AdamOptions(lr_d_).betas({betas[0], betas[1]}));
  }
  schedule_ = std::make_unique<LrSchedule>(cfg, total_steps);
}

void TrainSession::lay_out() {
  exec_.lay_out(*model_);
  if (disc_) exec_.lay_out(*disc_);
}

CheckpointParts TrainSession::parts() { return {model_.get(), disc_.get(), opt_g_.get(), opt_d_.get()}; }

void TrainSession::set_disc_grad(bool on) {
  if (disc_)
    for (auto& p : disc_->parameters()) p.set_requires_grad(on);
}

void TrainSession::nonfinite_stop(int64_t step, const std::string& term, const std::string& diagnosis) const {
  throw Error(fmt::format("non-finite loss at step {} in term '{}'{} (train.nonfinite = \"stop\"; set "
                          "\"skip\" to drop such steps); {}",
                          step + 1, term,
                          coll_->world_size() > 1 ? fmt::format(" (world size {})", coll_->world_size()) : "",
                          diagnosis));
}

StepResult TrainSession::step(const data::Batch& batch, int64_t step, bool stop_here) {
  StepResult res;
  const double world = coll_->world_size();
  schedule_->apply(*opt_g_, lr_g_, step);
  if (opt_d_) schedule_->apply(*opt_d_, lr_d_, step);
  broadcast_buffers(*coll_, *model_);
  if (disc_) broadcast_buffers(*coll_, *disc_);
  const ModelBatch mb = to_model_batch(batch, *model_, exec_);
  models::ModelOutput out;
  {
    const auto amp = exec_.autocast();
    out = model_->forward(mb.input);
  }

  bool d_bad = false;
  if (disc_) {  // Eq. 14: critic step on the detached output
    opt_d_->zero_grad();
    torch::Tensor ld;
    {
      const auto amp = exec_.autocast();
      ld = objective_->critic(*disc_, out, mb).to(torch::kFloat);
    }
    const double local = ld.item<double>();
    const auto agreed = all_reduce_values(*coll_, {std::isfinite(local) ? 0.0 : 1.0, local});
    d_bad = agreed[0] > 0;
    res.d_loss = agreed[1] / world;
    if (!d_bad) {
      ld.backward();
      d_buckets_->average(*coll_);
      opt_d_->step();
      objective_->after_critic_step(*disc_);
    }
  }

  set_disc_grad(false);
  LossTerms lt;
  try {
    const auto amp = exec_.autocast();
    lt = objective_->generator(out, mb, disc_.get());
  } catch (...) {
    set_disc_grad(true);
    throw;
  }
  set_disc_grad(true);
  // One reduction: [stop, total non-finite, term_i non-finite..., total, term_i...].
  const size_t nt = lt.terms.size();
  const std::vector<double> local = lt.values();  // [total, term_i...]: one device sync
  std::vector<double> v(2 + 2 * nt + 1, 0.0);
  v[0] = stop_here ? 1 : 0;
  v[1] = std::isfinite(local[0]) ? 0 : 1;
  v[2 + nt] = local[0];
  for (size_t i = 0; i < nt; ++i) {
    v[2 + i] = std::isfinite(local[1 + i]) ? 0 : 1;
    v[3 + nt + i] = local[1 + i];
  }
  v = all_reduce_values(*coll_, std::move(v));
  res.stop_requested = v[0] > 0;
  res.loss = v[2 + nt] / world;
  for (size_t i = 0; i < nt; ++i) res.terms.emplace_back(lt.terms[i].first, v[3 + nt + i] / world);

  std::string bad;
  for (size_t i = 0; i < nt && bad.empty(); ++i)
    if (v[2 + i] > 0) bad = lt.terms[i].first;
  if (bad.empty() && v[1] > 0) bad = "total";
  if (bad.empty() && d_bad) bad = kCriticTerm;
  if (!bad.empty()) {
    res.diagnosis = diagnose_nonfinite(mb, out, *model_, disc_.get());
    if (nonfinite_ == "stop") nonfinite_stop(step, bad, res.diagnosis);
    res.skipped = true;
    res.bad_term = bad;
    return res;
  }
  opt_g_->zero_grad();
  lt.total.backward();
  g_buckets_->average(*coll_);
  opt_g_->step();
  return res;
}

}  // namespace dmgn::train
