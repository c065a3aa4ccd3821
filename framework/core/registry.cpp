#include "core/registry.h"

namespace dmgn {

RegistryCatalog& RegistryCatalog::instance() {
  static RegistryCatalog catalog;
  return catalog;
}

void RegistryCatalog::add_kind(const std::string& kind,
                               std::function<std::vector<RegistryEntryInfo>()> lister) {
  for (auto& [k, l] : kinds_)
    if (k == kind) {
      l = std::move(lister);
      return;
    }
  kinds_.emplace_back(kind, std::move(lister));
}

std::vector<RegistryEntryInfo> RegistryCatalog::all() const {
  std::vector<RegistryEntryInfo> out;
  for (const auto& [k, l] : kinds_) {
    auto entries = l();
    out.insert(out.end(), entries.begin(), entries.end());
  }
  return out;
}

std::vector<std::string> RegistryCatalog::kinds() const {
  std::vector<std::string> out;
  for (const auto& [k, l] : kinds_) out.push_back(k);
  return out;
}

}  // namespace dmgn
