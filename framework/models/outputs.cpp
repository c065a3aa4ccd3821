#include "models/outputs.h"

#include <fmt/format.h>
#include <fmt/ranges.h>  // fmt::join

#include "core/error.h"

namespace dmgn::models {

void Outputs::set(const std::string& key, torch::Tensor t) {
  for (auto it = tensors_.begin(); it != tensors_.end(); ++it)
    if (it->first == key) {
      if (t.defined())
        it->second = std::move(t);
      else
        tensors_.erase(it);
      return;
    }
  if (t.defined()) tensors_.emplace_back(key, std::move(t));
}

void Outputs::set_list(const std::string& key, std::vector<torch::Tensor> ts) {
  for (auto& [k, v] : lists_)
    if (k == key) {
      v = std::move(ts);
      return;
    }
  lists_.emplace_back(key, std::move(ts));
}

bool Outputs::has(const std::string& key) const {
  for (const auto& [k, v] : tensors_)
    if (k == key) return true;
  for (const auto& [k, v] : lists_)
    if (k == key) return !v.empty();
  return false;
}

const torch::Tensor& Outputs::at(const std::string& key) const {
  for (const auto& [k, v] : tensors_)
    if (k == key) return v;
  throw Error(fmt::format("the model returned no output '{}' (it returned: {})", key, fmt::join(keys(), ", ")));
}

torch::Tensor Outputs::get(const std::string& key) const {
  for (const auto& [k, v] : tensors_)
    if (k == key) return v;
  return {};
}

std::vector<torch::Tensor> Outputs::list(const std::string& key) const {
  for (const auto& [k, v] : lists_)
    if (k == key) return v;
  if (auto t = get(key); t.defined()) return {t};
  return {};
}

std::vector<std::pair<std::string, torch::Tensor>> Outputs::flat() const {
  auto out = tensors_;
  for (const auto& [k, v] : lists_)
    for (size_t i = 0; i < v.size(); ++i) out.emplace_back(fmt::format("{}[{}]", k, i), v[i]);
  return out;
}

std::vector<std::string> Outputs::keys() const {
  std::vector<std::string> out;
  for (const auto& [k, v] : tensors_) out.push_back(k);
  for (const auto& [k, v] : lists_) out.push_back(k);
  return out;
}

void Outputs::apply(const std::function<torch::Tensor(const torch::Tensor&)>& f) {
  for (auto& [k, v] : tensors_) v = f(v);
  for (auto& [k, v] : lists_)
    for (auto& t : v) t = f(t);
}

const OutputDecl* ModelSpec::find(const std::string& key) const {
  for (const auto& d : outputs)
    if (d.key == key) return &d;
  return nullptr;
}

}  // namespace dmgn::models
