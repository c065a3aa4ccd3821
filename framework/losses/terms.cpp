#include "losses/terms.h"

#include <fmt/format.h>
#include <fmt/ranges.h>  // fmt::join

#include <algorithm>
#include <cmath>

#include "core/dtype.h"
#include "core/error.h"
#include "core/log.h"
#include "core/options.h"
#include "data/dataset.h"

namespace dmgn::losses {

std::vector<TermSpec> term_specs(const Config& cfg) {
  std::vector<TermSpec> out;
  const auto* terms = cfg.root().at_path("loss.terms").as_table();
  if (!terms) return out;
  for (const auto& [key, node] : *terms) {
    const std::string name(key.str());
    if (name == "*" || !node.is_table()) continue;
    TermSpec s;
    s.name = name;
    read_options(cfg.sub("loss.terms." + name),
                 {{"loss", &s.loss}, {"output", &s.output}, {"target", &s.target}, {"condition", &s.condition},
                  {"module", &s.module}, {"phase", &s.phase}, {"weight", &s.weight}, {"decay", &s.decay},
                  {"order", &s.order}, {"optional", &s.optional}});
    out.push_back(std::move(s));
  }
  std::stable_sort(out.begin(), out.end(), [](const TermSpec& a, const TermSpec& b) {
    return a.order != b.order ? a.order < b.order : a.name < b.name;
  });
  return out;
}

std::vector<double> TermValues::values() const {
  std::vector<torch::Tensor> parts{total.detach().reshape({1})};
  for (const auto& [name, t] : terms) parts.push_back(t.detach().reshape({1}));
  const auto host = torch::cat(parts).to(torch::kCPU, torch::kFloat64);
  const auto* p = host.data_ptr<double>();
  return std::vector<double>(p, p + host.numel());
}

void TermValues::add(const std::string& name, torch::Tensor weighted) {
  total = total.defined() ? total + weighted : weighted;
  terms.emplace_back(name, std::move(weighted));
}

namespace {

// `config key 'loss.terms.NAME.FIELD' = "value": <why>; did you mean "nearest"? (known: ...)`.
[[noreturn]] void unknown_name(const Config& cfg, const TermSpec& s, const char* field, const std::string& value,
                               const std::string& why, const std::vector<std::string>& known) {
  const std::string key = fmt::format("loss.terms.{}.{}", s.name, field);
  const std::string from = cfg.source_of(key);
  const std::string near = nearest_name(value, known);
  throw ConfigError(fmt::format("config key '{}' = \"{}\": {}{} (known: {}){}", key, value, why,
                                near.empty() ? "" : fmt::format("; did you mean \"{}\"?", near), fmt::join(known, ", "),
                                from.empty() || from == "defaults" ? "" : fmt::format(" (set in {})", from)));
}

// A typo in a term's names is refused whatever its weight or `optional`.
void check_names(const Config& cfg, const TermSpec& s) {
  const std::string model = cfg.get_string("model.name");
  if (!models::can_output(model, s.output))
    unknown_name(cfg, s, "output", s.output,
                 fmt::format("model '{}' has no output '{}' in any configuration", model, s.output),
                 models::output_names(model));
  const auto& fields = data::field::all();
  const auto known_field = [&](const std::string& f) { return std::find(fields.begin(), fields.end(), f) != fields.end(); };
  if (!s.target.empty() && !known_field(s.target))
    unknown_name(cfg, s, "target", s.target,
                 fmt::format("no dataset or synthesis provides a batch tensor '{}'", s.target), fields);
  if (!s.condition.empty() && !known_field(s.condition))
    unknown_name(cfg, s, "condition", s.condition,
                 fmt::format("no dataset or synthesis provides a batch tensor '{}'", s.condition), fields);
}

}  // namespace

TermPlan plan_terms(const Config& cfg, const models::ModelSpec& spec) {
  TermPlan plan;
  const std::string model = cfg.get_string("model.name");
  for (const auto& s : term_specs(cfg)) {
    check_names(cfg, s);
    if (!(s.weight > 0)) continue;
    if (spec.declares(s.output)) {
      plan.active.push_back(s);
      continue;
    }
    std::vector<std::string> keys;
    for (const auto& d : spec.outputs) keys.push_back(d.key);
    if (s.optional) {
      plan.dropped.push_back({s.name, fmt::format("model '{}' as configured declares no output '{}' (it declares: {})",
                                                  model, s.output, fmt::join(keys, ", "))});
      continue;
    }
    throw ConfigError(fmt::format("config table [loss.terms.{}]: the model '{}' has no output '{}' (it declares: {}; "
                                  "set optional = true to drop the term where an output is absent)",
                                  s.name, model, s.output, fmt::join(keys, ", ")));
  }
  return plan;
}

models::InputRequirement training_requirement(const Config& cfg, const TermPlan& plan) {
  auto r = models::input_requirement(cfg);
  const int64_t m = std::max<int64_t>(1, r.multiple);
  for (const auto& t : plan.active) {
    const auto need = loss_need(cfg, t.loss);
    const auto it = r.downscale.find(t.output);
    const int64_t f = it == r.downscale.end() ? 1 : it->second;
    const int64_t side = (need.min_side * f + m - 1) / m * m;
    if (side <= r.min_side) continue;
    r.min_side = side;
    r.why = fmt::format("loss term '{}' ({} on '{}'{}): {}{}", t.name, t.loss, t.output,
                        f > 1 ? fmt::format(", 1/{} of the input", f) : "", need.why,
                        side > need.min_side * f ? fmt::format("; {} rounded up to a multiple of {}", need.min_side * f, m)
                                                 : "");
  }
  return r;
}

TermSet::TermSet(const Config& cfg, const models::Model& model)
    : TermSet(cfg, model, LossContext{model.shared_vgg(), model.input_range()}) {}

TermSet::TermSet(const Config& cfg, const models::Model& model, const LossContext& ctx) {
  const auto& spec = model.spec();
  std::map<std::string, LossTermPtr> made;  // one instance per registered loss
  auto plan = plan_terms(cfg, spec);
  dropped_ = std::move(plan.dropped);
  for (const auto& s : plan.active) {
    const auto where = fmt::format("config table [loss.terms.{}]", s.name);
    const auto* decl = spec.find(s.output);
    if (s.target.empty()) throw ConfigError(fmt::format("{}: 'target' is empty", where));
    auto& loss = made[s.loss];
    if (!loss) loss = losses().make(s.loss, cfg, ctx);
    Built b;
    b.pixel = std::dynamic_pointer_cast<PixelLoss>(loss);
    b.batch = std::dynamic_pointer_cast<BatchLoss>(loss);
    b.critic = std::dynamic_pointer_cast<CriticLoss>(loss);
    if (b.critic && s.module.empty())
      throw ConfigError(fmt::format("{}: the adversarial loss '{}' needs 'module'", where, s.loss));
    if (!b.pixel && !b.batch && !b.critic)
      throw ConfigError(fmt::format("{}: the loss '{}' is neither a pixel, batch nor adversarial loss", where, s.loss));
    if (b.critic && decl->list)
      throw ConfigError(fmt::format("{}: the adversarial loss '{}' takes one output, '{}' is a list", where, s.loss,
                                    s.output));
    active_.push_back(s);
    built_.push_back(std::move(b));
  }
  if (active_.empty())
    throw ConfigError("every loss term has weight 0 or scores an output the model lacks: nothing to train "
                      "([loss.terms.*])");
}

void TermSet::note_batch_drop(const TermSpec& s, const std::string& field) const {
  {
    const std::lock_guard<std::mutex> lock(noted_mutex_);
    if (!noted_.insert(s.name).second) return;
  }
  log::info(fmt::format("loss term '{}' dropped from batches without '{}' (optional; first seen now, said once)",
                        s.name, field));
}

std::vector<std::string> TermSet::discriminators() const {
  std::vector<std::string> out;
  for (size_t i = 0; i < active_.size(); ++i)
    if (built_[i].critic && std::find(out.begin(), out.end(), active_[i].module) == out.end())
      out.push_back(active_[i].module);
  return out;
}

namespace {

const torch::Tensor* find(const NamedTensors& batch, const std::string& key) {
  const auto it = batch.find(key);
  return it == batch.end() || !it->second.defined() ? nullptr : &it->second;
}

// The target at the output's size: area-downscaled by an integer factor, or refused.
torch::Tensor sized_target(const torch::Tensor& target, const torch::Tensor& y, const std::string& term) {
  if (target.dim() != 4 || y.dim() != 4 || target.sizes().slice(2) == y.sizes().slice(2)) return target;
  const int64_t th = target.size(2), tw = target.size(3), yh = y.size(2), yw = y.size(3);
  if (yh > 0 && yw > 0 && th % yh == 0 && tw % yw == 0 && th / yh == tw / yw) {
    const int64_t f = th / yh;
    return torch::avg_pool2d(target, {f, f}, {f, f});
  }
  throw Error(fmt::format("loss term '{}': the output is {}x{} but its target {}x{} (only integer downscaling "
                          "of the target is supported)", term, yh, yw, th, tw));
}

}  // namespace

TermValues TermSet::evaluate(const std::string& phase, const models::Outputs& out, const NamedTensors& batch,
                             const std::map<std::string, nn::Discriminator*>& discs) const {
  TermValues tv;
  for (size_t i = 0; i < active_.size(); ++i) {
    const auto& s = active_[i];
    if (s.phase != phase) continue;
    const auto ys = out.list(s.output);
    const auto* target = find(batch, s.target);
    const auto* cond = s.condition.empty() ? nullptr : find(batch, s.condition);
    const torch::Tensor no_condition;
    if (ys.empty() || !target || (!s.condition.empty() && !cond)) {
      if (s.optional) {
        if (!ys.empty()) note_batch_drop(s, !target ? s.target : s.condition);
        continue;
      }
      throw Error(fmt::format("loss term '{}': {}", s.name,
                              ys.empty() ? fmt::format("the model returned no output '{}'", s.output)
                                         : fmt::format("the batch has no '{}'", !target ? s.target : s.condition)));
    }
    const auto& b = built_[i];
    torch::Tensor value;
    if (b.critic) {
      const auto it = discs.find(s.module);
      if (it == discs.end() || !it->second)
        throw Error(fmt::format("loss term '{}' needs the discriminator '{}'", s.name, s.module));
      value = b.critic->generator(*it->second, ys[0], cond ? *cond : no_condition, *target);
    } else {  // per iteration / scale: item i of N weighted decay^(N-1-i)
      const auto one = [&](const torch::Tensor& y) {
        return b.batch ? (*b.batch)(y, batch) : (*b.pixel)(y, sized_target(*target, y, s.name));
      };
      const auto n = static_cast<double>(ys.size());
      for (size_t k = 0; k < ys.size(); ++k) {
        const auto v = n == 1 ? one(ys[k]) : one(ys[k]) * std::pow(s.decay, n - 1 - static_cast<double>(k));
        value = value.defined() ? value + v : v;
      }
    }
    tv.add(s.name, s.weight * at_least_fp32(value));  // fp32 terms under bf16 autocast too
  }
  return tv;
}

torch::Tensor TermSet::critic(const std::string& module, const models::Outputs& out, const NamedTensors& batch,
                              nn::Discriminator& d) const {
  torch::Tensor total;
  for (size_t i = 0; i < active_.size(); ++i) {
    const auto& s = active_[i];
    if (!built_[i].critic || s.module != module) continue;
    const auto fake = out.get(s.output);
    const auto* real = find(batch, s.target);
    const auto* cond = s.condition.empty() ? nullptr : find(batch, s.condition);
    if (!fake.defined() || !real || (!s.condition.empty() && !cond)) {
      if (s.optional) {
        if (fake.defined()) note_batch_drop(s, !real ? s.target : s.condition);
        continue;
      }
      throw Error(fmt::format("loss term '{}': the critic needs output '{}' and batch '{}', '{}'", s.name, s.output,
                              s.target, s.condition));
    }
    const torch::Tensor no_condition;
    const auto v = built_[i].critic->critic(d, fake, *real, cond ? *cond : no_condition);
    total = total.defined() ? total + v : v;
  }
  return total;
}

void TermSet::after_critic_step(const std::string& module, nn::Discriminator& d) const {
  for (size_t i = 0; i < active_.size(); ++i)
    if (built_[i].critic && active_[i].module == module) {
      built_[i].critic->constrain(d);
      return;  // one constraint per discriminator
    }
}

}  // namespace dmgn::losses
