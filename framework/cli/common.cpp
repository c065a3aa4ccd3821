#include <fmt/format.h>

#include <filesystem>

#include "cli/commands.h"
#include "core/compat.h"
#include "core/error.h"
#include "gitrev.h"

namespace dmgn::cli {

Config load_config(const std::string& file, const std::vector<std::string>& sets) {
  if (!std::filesystem::exists(file)) throw ConfigError(fmt::format("config file '{}' does not exist", file));
  return Config::load(file, sets);
}

std::string preset_file(const std::string& task, const std::string& dir) {
  if (task != "reflection" && task != "rain" && task != "haze")
    throw ConfigError(fmt::format("--task '{}' is not one of reflection, rain, haze", task));
  const std::filesystem::path base =
      dir.empty() ? std::filesystem::path(DMGN_SOURCE_DIR) / "experiments" / "presets" : std::filesystem::path(dir);
  const auto p = base / (task + ".toml");
  if (!std::filesystem::exists(p))
    throw ConfigError(fmt::format("task preset '{}' not found (pass --presets DIR)", p.string()));
  return p.string();
}

store::RunStore open_existing_store(const std::string& file) {
  if (!std::filesystem::exists(file))
    throw IoError(fmt::format("run store '{}' does not exist (train something first)", file));
  return store::RunStore(file);
}

std::string thousands(int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return n < 0 ? "-" + out : out;
}

store::BenchRow bench_row(const Config& cfg, const char* bench, const std::string& device) {
  store::BenchRow b;
  b.bench = bench;
  b.config_hash = cfg.hash();
  b.device = device;
  b.torch_version = compat::torch_version();
  b.git_revision = DMGN_GIT_REVISION;
  return b;
}

}  // namespace dmgn::cli
