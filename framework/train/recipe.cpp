#include "train/recipe.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/rng.h"
#include "train/nonfinite.h"

namespace dmgn::train {

double StepResult::other(const std::string& name) const {
  for (const auto& [n, v] : others)
    if (n == name) return v;
  return 0;
}

RecipeRegistry& recipes() {
  static RecipeRegistry registry("recipe");
  return registry;
}

Recipe::Recipe(const RecipeEnv& env)
    : cfg_(env.cfg), coll_(env.collective), device_(env.device), exec_(Execution::from_config(env.cfg, env.device)),
      default_dtype_(exec_.fp64),
      nonfinite_(env.cfg.get_string("train.nonfinite")),
      seed_(static_cast<uint64_t>(env.cfg.get_int("run.seed"))) {
  if (nonfinite_ != "stop" && nonfinite_ != "skip")
    throw ConfigError(fmt::format("config key 'train.nonfinite': '{}' is not one of stop, skip", nonfinite_));
  if (!(cfg_.get_float("runtime.bucket_mb") > 0)) throw ConfigError("config key 'runtime.bucket_mb' must be > 0");
  deferred_ = cfg_.get_string("runtime.host_sync") == "log";
  if (deferred_) {
    const auto i64 = torch::TensorOptions().dtype(torch::kInt64).device(device_);
    const auto b = torch::TensorOptions().dtype(torch::kBool).device(device_);
    pending_ = {torch::zeros({}, b),      torch::full({}, -1, i64), torch::zeros({}, b), torch::zeros({}, i64),
                torch::full({}, -1, i64), torch::full({}, -1, i64), torch::zeros({}, i64)};
  }
  torch::manual_seed(seed_);
  schedule_ = std::make_unique<LrSchedule>(cfg_, env.total_steps);
}

Recipe::DefaultDtype::DefaultDtype(bool fp64) : on(fp64), previous(torch::get_default_dtype()) {
  if (on) torch::set_default_dtype(caffe2::TypeMeta::Make<double>());
}

Recipe::DefaultDtype::~DefaultDtype() {
  if (on) torch::set_default_dtype(previous);
}

void Recipe::add_module(const std::string& name, std::shared_ptr<torch::nn::Module> module, bool rank_local) {
  for (const auto& [n, m] : modules_)
    if (n == name) throw Error(fmt::format("recipe module '{}' added twice", name));
  module->to(device_);
  exec_.lay_out(*module);
  modules_.emplace_back(name, std::move(module));
  if (rank_local) rank_local_.push_back(name);
}

bool Recipe::is_rank_local(const std::string& name) const {
  return std::find(rank_local_.begin(), rank_local_.end(), name) != rank_local_.end();
}

void Recipe::split_rng_streams() {
  exec_.apply_cudnn();
  // DDP: every rank starts from rank 0's weights. Afterwards each rank draws its own random
  // numbers from a rank-derived stream.
  for (const auto& [n, m] : modules_)
    if (!is_rank_local(n)) broadcast_module(*coll_, *m);
  if (coll_->rank() > 0) torch::manual_seed(derive_seed(seed_, "rank", static_cast<uint64_t>(coll_->rank())));
}

void Recipe::add_adam(const std::string& name, std::vector<torch::Tensor> params, double lr,
                      std::pair<double, double> betas) {
  std::vector<torch::Tensor> trainable;
  for (auto& p : params)
    if (p.requires_grad()) trainable.push_back(p);
  Optim o;
  o.name = name;
  o.lr = lr;
  const auto bucket_bytes = static_cast<int64_t>(cfg_.get_float("runtime.bucket_mb") * 1024 * 1024);
  o.buckets = std::make_unique<GradientBuckets>(trainable, bucket_bytes);
  o.adam = std::make_unique<torch::optim::Adam>(trainable,
                                                torch::optim::AdamOptions(lr).betas({betas.first, betas.second}));
  if (deferred_) {
    o.device = std::make_unique<DeviceAdam>(*o.adam);
    o.lr_now = torch::full({}, lr, torch::TensorOptions().dtype(torch::kFloat64).device(device_));
  }
  optims_.push_back(std::move(o));
}

Recipe::Optim& Recipe::optim(const std::string& name) {
  for (auto& o : optims_)
    if (o.name == name) return o;
  throw Error(fmt::format("recipe has no optimizer '{}'", name));
}

CheckpointParts Recipe::parts() const {
  if (std::none_of(modules_.begin(), modules_.end(), [](const auto& m) { return m.first == "model"; }))
    throw Error("the recipe has no module 'model': evaluation, export and visualize load the restoration network "
                "under that name");
  CheckpointParts p;
  for (const auto& [n, m] : modules_) p.modules.emplace_back(n, m.get());
  for (const auto& o : optims_) p.optimizers.emplace_back(o.name, o.adam.get());
  return p;
}

void Recipe::lay_out() {
  for (const auto& [n, m] : modules_) exec_.lay_out(*m);
  for (auto& o : optims_)
    if (o.device) o.device->from_host();  // the step counts a checkpoint load put in the state
}

uint64_t Recipe::parameter_hash() const {
  uint64_t h = 1469598103934665603ull;  // FNV-1a, 64 bit
  for (const auto& [n, m] : modules_)
    for (const auto& p : m->parameters()) {
      const auto c = p.detach().cpu().contiguous();
      const auto* b = static_cast<const unsigned char*>(c.data_ptr());
      const size_t len = static_cast<size_t>(c.numel()) * c.element_size();
      for (size_t i = 0; i < len; ++i) h = (h ^ b[i]) * 1099511628211ull;
    }
  return h;
}

void Recipe::nonfinite_stop(int64_t step, const std::string& term, const std::string& diagnosis) const {
  throw Error(fmt::format("non-finite loss at step {} in term '{}'{} (train.nonfinite = \"stop\"; set "
                          "\"skip\" to drop such steps); {}",
                          step + 1, term,
                          coll_->world_size() > 1 ? fmt::format(" (world size {})", coll_->world_size()) : "",
                          diagnosis));
}

bool Recipe::Frame::update(const std::string& optimizer, const losses::TermValues& tv, const std::string& report,
                           const std::string& bad_name, const std::function<void()>& before_step) {
  auto& o = owner_.optim(optimizer);
  if (owner_.deferred_) return owner_.update_on_device(o, tv, report, bad_name, before_step);
  auto& coll = *owner_.coll_;
  const double world = coll.world_size();
  // One reduction: [stop, total non-finite, term_i non-finite..., total, term_i...].
  const size_t nt = tv.terms.size();
  const std::vector<double> local = tv.values();  // [total, term_i...]: one device sync
  std::vector<double> v(2 + 2 * nt + 1, 0.0);
  v[0] = stop_here_ ? 1 : 0;
  v[1] = std::isfinite(local[0]) ? 0 : 1;
  v[2 + nt] = local[0];
  for (size_t i = 0; i < nt; ++i) {
    v[2 + i] = std::isfinite(local[1 + i]) ? 0 : 1;
    v[3 + nt + i] = local[1 + i];
  }
  v = all_reduce_values(coll, std::move(v));
  result_.stop_requested = result_.stop_requested || v[0] > 0;
  if (report == "loss") {
    result_.loss = v[2 + nt] / world;
    for (size_t i = 0; i < nt; ++i) result_.terms.emplace_back(tv.terms[i].first, v[3 + nt + i] / world);
  } else {
    result_.others.emplace_back(report, v[2 + nt] / world);
  }
  std::string bad;
  for (size_t i = 0; i < nt && bad.empty(); ++i)
    if (v[2 + i] > 0) bad = tv.terms[i].first;
  if (bad.empty() && v[1] > 0) bad = bad_name;
  if (!bad.empty()) bad_.push_back(bad);
  if (!bad_.empty()) return false;  // this phase or an earlier one was non-finite on some rank
  // Gradients start undefined, not zero (PyTorch >= 2.0's zero_grad(set_to_none=True), LibTorch
  // 2.x's default; LibTorch 1.13 zeroes them): a parameter this update does not reach (a branch
  // of another task: MBN) keeps its value and Adam state instead of drifting on its momentum,
  // the same on every LibTorch and the same after a resume, where no gradient exists yet.
  for (auto& group : o.adam->param_groups())
    for (auto& p : group.params()) p.mutable_grad() = torch::Tensor();
  tv.total.backward();
  o.buckets->average(coll);
  if (before_step) before_step();
  o.adam->step();
  return true;
}

std::string Recipe::Frame::task() const {
  for (const auto& t : tasks_)
    if (t != tasks_.front())
      throw DataError(fmt::format("a batch mixes the tasks '{}' and '{}' (one task per batch: data.multitask)",
                                  tasks_.front(), t));
  return tasks_.empty() ? std::string() : tasks_.front();
}

StepResult Recipe::step(const data::Batch& batch, int64_t step, bool stop_here) {
  for (auto& o : optims_) {
    schedule_->apply(*o.adam, o.lr, step);
    if (o.lr_now.defined())  // a kernel with the rate as its argument: no transfer, no wait
      o.lr_now.fill_(static_cast<torch::optim::AdamOptions&>(o.adam->param_groups().front().options()).lr());
  }
  for (const auto& [n, m] : modules_)
    if (!is_rank_local(n)) broadcast_buffers(*coll_, *m);
  Frame f(*this, stop_here, step);
  auto& m = model();
  // Every field of the batch by name; images in the model's input range, the rest as they are.
  for (const auto& [name, t] : batch.fields.all())
    f.batch_[name] = data::field::is_image(name) ? m.to_model(exec_.place(t)) : exec_.place(t);
  f.tasks_ = batch.tasks;
  if (deferred_) {
    begin_deferred_step();
    run(f);
    end_deferred_step();
    StepResult res;
    res.pending = true;
    return res;
  }
  run(f);
  StepResult res = std::move(f.result_);
  if (f.bad_.empty()) return res;
  // The last failed phase names the term (DMGN: a generator term before the critic).
  res.bad_term = f.bad_.back();
  std::vector<std::pair<std::string, torch::nn::Module*>> mods;
  for (const auto& [n, mod] : modules_) mods.emplace_back(n, mod.get());
  res.diagnosis = diagnose_nonfinite(f.batch_, &f.outputs_, mods);
  if (nonfinite_ == "stop") nonfinite_stop(step, res.bad_term, res.diagnosis);
  res.skipped = true;
  res.skipped_steps = 1;
  res.first_skipped_step = step;
  return res;
}

std::string Recipe::diagnose() const {
  std::vector<std::pair<std::string, torch::nn::Module*>> mods;
  for (const auto& [n, mod] : modules_) mods.emplace_back(n, mod.get());
  return diagnose_nonfinite({}, nullptr, mods);
}

}  // namespace dmgn::train
