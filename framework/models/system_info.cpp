#include "models/system_info.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/error.h"

namespace dmgn::models {
namespace {

Registry<SystemInfo>& infos() {
  static Registry<SystemInfo> r("system");
  return r;
}

}  // namespace

void register_system_info(const std::string& model_name, SystemInfo info) {
  if (info.names.empty()) throw Error(fmt::format("system info of model '{}' names no system", model_name));
  const std::string description = fmt::format("{}", fmt::join(info.names, ", "));
  infos().add(model_name, description, [info] { return info; });
}

std::vector<std::string> system_names() {
  std::vector<std::string> out;
  for (const auto& model : infos().names_in_order())
    for (const auto& n : infos().make(model).names) out.push_back(n);
  return out;
}

std::string system_name(const Config& cfg) {
  const std::string model = cfg.get_string("model.name");
  if (!infos().contains(model)) return "";
  const SystemInfo info = infos().make(model);
  return info.name_of ? info.name_of(cfg) : info.names.front();
}

std::vector<std::string> system_small_overrides(const Config& cfg) {
  const std::string model = cfg.get_string("model.name");
  if (!infos().contains(model)) return {};
  const SystemInfo info = infos().make(model);
  return info.small ? info.small(cfg) : std::vector<std::string>{};
}

bool training_free(const Config& cfg) {
  const std::string model = cfg.get_string("model.name");
  return infos().contains(model) && infos().make(model).training_free;
}

std::string system_cannot_run(const std::string& name, const std::string& task) {
  for (const auto& model : infos().names_in_order()) {
    const SystemInfo info = infos().make(model);
    for (const auto& n : info.names)
      if (n == name) return info.cannot_run ? info.cannot_run(name, task) : "";
  }
  return "";
}

}  // namespace dmgn::models
