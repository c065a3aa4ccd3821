#include "train/nonfinite.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <utility>
#include <vector>

namespace dmgn::train {

namespace {

using Named = std::vector<std::pair<std::string, torch::Tensor>>;

Named params_of(torch::nn::Module& m, bool grads) {
  Named v;
  for (const auto& item : m.named_parameters()) {
    const auto& p = item.value();
    v.emplace_back(item.key(), grads ? p.grad() : p);
  }
  return v;
}

std::string part(const std::string& what, const std::string& bad) {
  return fmt::format("{}: {}", what, bad.empty() ? "finite" : "NON-FINITE " + bad);
}

}  // namespace

std::string first_nonfinite(const Named& named) {
  torch::NoGradGuard g;
  std::vector<torch::Tensor> flags;
  std::vector<size_t> which;
  for (size_t i = 0; i < named.size(); ++i)
    if (named[i].second.defined() && named[i].second.numel() > 0) {
      flags.push_back(torch::isfinite(named[i].second.detach()).all().reshape({1}));
      which.push_back(i);
    }
  if (flags.empty()) return "";
  const auto ok = torch::cat(flags).to(torch::kCPU);  // one transfer
  const auto* p = ok.data_ptr<bool>();
  std::string first;
  int more = 0;
  for (size_t k = 0; k < which.size(); ++k)
    if (!p[k]) {
      if (first.empty())
        first = named[which[k]].first;
      else
        ++more;
    }
  if (first.empty()) return "";
  return more ? fmt::format("{} (and {} more)", first, more) : first;
}

std::string diagnose_nonfinite(const std::map<std::string, torch::Tensor>& batch, const models::Outputs* out,
                               const std::vector<std::pair<std::string, torch::nn::Module*>>& modules) {
  std::vector<std::string> parts;
  if (out) {
    parts.push_back(part("batch", first_nonfinite(Named(batch.begin(), batch.end()))));
    parts.push_back(part("outputs", first_nonfinite(out->flat())));
  }
  for (const auto& [name, m] : modules) {
    parts.push_back(part(fmt::format("{} parameters", name), first_nonfinite(params_of(*m, false))));
    parts.push_back(
        part(fmt::format("{} gradients of the last update", name), first_nonfinite(params_of(*m, true))));
  }
  return fmt::format("{}", fmt::join(parts, "; "));
}

}  // namespace dmgn::train
