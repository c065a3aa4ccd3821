// runtime.host_sync = "log": the update decisions of Recipe::Frame::update taken on the device
// (train/recipe.h), and Recipe::settle(), where the host learns what happened.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "train/recipe.h"

namespace dmgn::train {

torch::Tensor Recipe::term_ids(const std::vector<std::string>& names) {
  const std::string key = fmt::format("{}", fmt::join(names, "\n"));
  const auto it = term_id_tensors_.find(key);
  if (it != term_id_tensors_.end()) return it->second;
  std::vector<int64_t> ids;
  for (const auto& n : names) {
    const auto at = std::find(term_names_.begin(), term_names_.end(), n);
    ids.push_back(at - term_names_.begin());
    if (at == term_names_.end()) term_names_.push_back(n);
  }
  // Made once per phase layout (the first step), so its host-to-device copy is not in later steps.
  auto t = torch::tensor(ids, torch::kInt64).to(device_);
  term_id_tensors_.emplace(key, t);
  return t;
}

void Recipe::begin_deferred_step() {
  last_phases_.clear();
  pending_.step_bad.fill_(false);
  pending_.step_code.fill_(-1);
}

void Recipe::end_deferred_step() {
  auto& p = pending_;
  const auto first = p.first_step.lt(0).logical_and(p.step_bad);
  p.first_code.copy_(torch::where(first, p.step_code, p.first_code));
  p.first_step.copy_(torch::where(first, p.index, p.first_step));
  p.skipped.add_(p.step_bad.to(torch::kInt64));
  if (nonfinite_ == "stop") p.sticky.logical_or_(p.step_bad);
  p.index.add_(1);
}

bool Recipe::update_on_device(Optim& o, const losses::TermValues& tv, const std::string& report,
                              const std::string& bad_name, const std::function<void()>& before_step) {
  // [term_1..term_n, total] in float64, summed over ranks on the device: a sum holds a NaN or an
  // Inf when some rank's value did, so its flags are every rank's.
  std::vector<torch::Tensor> parts;
  std::vector<std::string> names;
  for (const auto& [name, t] : tv.terms) {
    parts.push_back(t.detach().reshape({1}).to(torch::kFloat64));
    names.push_back(name);
  }
  parts.push_back(tv.total.detach().reshape({1}).to(torch::kFloat64));
  names.push_back(bad_name);
  std::vector<torch::Tensor> values{torch::cat(parts)};
  if (coll_->world_size() > 1) coll_->all_reduce_sum(values);
  const auto bad = values[0].isfinite().logical_not();
  const auto phase_bad = bad.any();
  // The first non-finite term, else the total (argmax: the first maximum), as in host mode.
  // (gather, not index(): indexing by a 0-d tensor reads it on the host)
  const auto code = term_ids(names).gather(0, bad.to(torch::kInt64).argmax().reshape({1})).reshape({});
  auto& p = pending_;
  p.step_code.copy_(torch::where(phase_bad, code, p.step_code));  // the last failed phase names it
  p.step_bad.logical_or_(phase_bad);
  last_phases_.push_back({report, std::vector<std::string>(names.begin(), names.end() - 1), values[0]});
  for (auto& group : o.adam->param_groups())
    for (auto& param : group.params()) param.mutable_grad() = torch::Tensor();
  tv.total.backward();
  o.buckets->average(*coll_);
  if (before_step) before_step();
  o.device->step(o.lr_now, p.step_bad.logical_or(p.sticky));
  return true;
}

void Recipe::Frame::report_loss_as(const std::string& name) {
  if (!owner_.deferred_) {
    result_.others.emplace_back(name, result_.loss);
    return;
  }
  // The main update's total, still on the device, read with the rest at the settle.
  for (auto it = owner_.last_phases_.rbegin(); it != owner_.last_phases_.rend(); ++it)
    if (it->report == "loss") {
      const auto total = it->values.narrow(0, static_cast<int64_t>(it->terms.size()), 1);
      owner_.last_phases_.push_back({name, {}, total});
      return;
    }
}

void Recipe::settle(StepResult& res, bool stop_here) {
  if (!res.pending) return;
  auto& p = pending_;
  // One transfer: [step_bad, skipped, first_step, first_code, phase values...].
  std::vector<torch::Tensor> parts{p.step_bad.to(torch::kFloat64).reshape({1}),
                                   p.skipped.to(torch::kFloat64).reshape({1}),
                                   p.first_step.to(torch::kFloat64).reshape({1}),
                                   p.first_code.to(torch::kFloat64).reshape({1})};
  for (const auto& ph : last_phases_) parts.push_back(ph.values);
  const auto host = torch::cat(parts).to(torch::kCPU).contiguous();
  const double* v = host.data_ptr<double>();
  const double world = coll_->world_size();
  const bool last_bad = v[0] > 0;
  res.pending = false;
  res.skipped = last_bad;
  res.skipped_steps = static_cast<int64_t>(std::llround(v[1]));
  res.first_skipped_step = static_cast<int64_t>(std::llround(v[2]));
  const auto code = static_cast<int64_t>(std::llround(v[3]));
  size_t at = 4;
  for (const auto& ph : last_phases_) {
    const size_t nt = ph.terms.size();
    const double total = v[at + nt] / world;
    if (ph.report == "loss") {
      res.loss = total;
      for (size_t i = 0; i < nt; ++i) res.terms.emplace_back(ph.terms[i], v[at + i] / world);
    } else {
      res.others.emplace_back(ph.report, total);
    }
    at += nt + 1;
  }
  std::vector<double> stop{stop_here ? 1.0 : 0.0};
  res.stop_requested = all_reduce_values(*coll_, std::move(stop))[0] > 0;
  for (auto& o : optims_) o.device->to_host();
  p.skipped.fill_(0);
  p.first_step.fill_(-1);
  p.first_code.fill_(-1);
  if (res.skipped_steps == 0) return;
  res.bad_term = code >= 0 && code < static_cast<int64_t>(term_names_.size()) ? term_names_[code] : "total";
  res.diagnosis = "now (runtime.host_sync = \"log\": the failing step's batch and outputs are gone): " + diagnose();
  if (nonfinite_ == "stop") nonfinite_stop(res.first_skipped_step, res.bad_term, res.diagnosis);
}

}  // namespace dmgn::train
