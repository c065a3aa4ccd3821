#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cctype>
#include <cstring>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "cli/commands.h"
#include "core/compat.h"
#include "core/error.h"
#include "core/log.h"
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
  return store::RunStore(file, store::RunStore::Access::read_only);
}

std::string shell_command(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) {
    const bool plain = !w.empty() && std::all_of(w.begin(), w.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || std::strchr("_./=:,+-@%", c) != nullptr;
    });
    std::string q = w;
    if (!plain) {
      q = "'";
      for (char c : w) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
      q += "'";
    }
    out += (out.empty() ? "" : " ") + q;
  }
  return out;
}

CLI::Validator at_least(long long lo) {
  return CLI::Validator(
      [lo](std::string& v) -> std::string {
        try {
          size_t pos = 0;
          const long long x = std::stoll(v, &pos);
          if (pos == v.size() && x >= lo) return "";
        } catch (const std::exception&) {
        }
        return fmt::format("must be an integer >= {}, got '{}'", lo, v);
      },
      fmt::format("INT>={}", lo));
}

CLI::Validator within(long long lo, long long hi, const std::string& why) {
  return CLI::Validator(
      [lo, hi, why](std::string& v) -> std::string {
        try {
          size_t pos = 0;
          const long long x = std::stoll(v, &pos);
          if (pos == v.size() && x >= lo && x <= hi) return "";
          if (pos == v.size() && x > hi) return fmt::format("must be <= {} ({}), got '{}'", hi, why, v);
        } catch (const std::exception&) {
        }
        return fmt::format("must be an integer >= {}, got '{}' (at most {})", lo, v, hi);
      },
      fmt::format("INT in [{}, {}]", lo, hi));
}

CLI::Validator positive_number(bool or_zero) {
  return CLI::Validator(
      [or_zero](std::string& v) -> std::string {
        try {
          size_t pos = 0;
          const double x = std::stod(v, &pos);
          if (pos == v.size() && std::isfinite(x) && (x > 0 || (or_zero && x == 0))) return "";
        } catch (const std::exception&) {
        }
        return fmt::format("must be a number {} 0, got '{}'", or_zero ? ">=" : ">", v);
      },
      or_zero ? "NUM>=0" : "NUM>0");
}

std::string unknown_command(CLI::App& app, const std::string& first) {
  if (first.empty() || first[0] == '-') return "";
  std::vector<std::string> names;
  for (const auto* sub : app.get_subcommands([](CLI::App*) { return true; })) {
    if (sub->get_name() == first) return "";
    names.push_back(sub->get_name());
  }
  const std::string best = nearest_name(first, names);
  return fmt::format("unknown command '{}'{}; the commands: {}", first,
                     !best.empty() && edit_distance(best, first) <= 2 ? fmt::format(" (did you mean '{}'?)", best)
                                                                      : std::string(),
                     fmt::format("{}", fmt::join(names, ", ")));
}

std::string git_revision() { return DMGN_GIT_REVISION; }

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

void emit_report(const std::string& text, const std::string& out) {
  if (out.empty()) {
    std::printf("%s", text.c_str());
    std::fflush(stdout);
    return;
  }
  std::ofstream f(out);
  f << text;
  if (!f) throw IoError(fmt::format("cannot write '{}'", out));
  std::printf("wrote %s\n", out.c_str());
  std::fflush(stdout);
}

store::RunStore open_report_store(const std::string& file, bool& record) {
  if (record && std::filesystem::exists(file)) {  // a missing store: open_existing_store's error
    const auto path = std::filesystem::path(file);
    const auto dir = path.parent_path().empty() ? std::filesystem::path(".") : path.parent_path();
    if (::access(file.c_str(), W_OK) == 0 && ::access(dir.c_str(), W_OK) == 0) {
      try {
        return store::RunStore(file);
      } catch (const std::exception& e) {
        log::warn(fmt::format("report not recorded in the store: {}", e.what()));
      }
    } else {
      log::info(fmt::format("report not recorded: {} (or its folder) cannot be written", file));
    }
    record = false;
  }
  return open_existing_store(file);
}

}  // namespace dmgn::cli
