#include "models/import.h"

#include <fmt/format.h>
#include <fmt/ranges.h>  // fmt::join (its home since fmt 11)

#include "core/error.h"

namespace dmgn::models {

int64_t import_by_name(torch::nn::Module& module, const std::map<std::string, torch::Tensor>& state,
                       const std::string& source_name, const std::function<std::string(const std::string&)>& rename) {
  auto ours = module.named_parameters(true);
  std::map<std::string, bool> filled;
  for (const auto& p : ours) filled[p.key()] = false;
  int64_t copied = 0;
  torch::NoGradGuard g;
  for (const auto& [raw, t] : state) {
    std::string name = raw.rfind("module.", 0) == 0 ? raw.substr(7) : raw;
    if (rename) name = rename(name);
    auto* p = ours.find(name);
    if (!p)
      throw DataError(fmt::format("'{}': tensor '{}' has no counterpart in the configured model", source_name, raw));
    if (p->sizes() != t.sizes())
      throw DataError(fmt::format("'{}': tensor '{}' has shape {} but ours has {}", source_name, raw,
                                  fmt::join(t.sizes(), "x"), fmt::join(p->sizes(), "x")));
    p->copy_(t);
    filled[name] = true;
    ++copied;
  }
  for (const auto& [name, ok] : filled)
    if (!ok) throw DataError(fmt::format("'{}' has no tensor for our parameter '{}'", source_name, name));
  return copied;
}

}  // namespace dmgn::models
