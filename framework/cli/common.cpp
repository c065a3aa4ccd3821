#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cctype>
#include <cstring>

#include <cstdio>
#include <cstdlib>
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

void say(const std::string& line) {
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

PageLink page_link(const std::string& host, int port, const std::string& token) {
  if (host != "0.0.0.0" && host != "::") return {fmt::format("http://{}:{}/?t={}", host, port, token), ""};
  char hostname[256] = {0};
  ::gethostname(hostname, sizeof hostname - 1);
  return {fmt::format("http://<this machine's address>:{}/?t={}", port, token),
          fmt::format("(this machine is '{}': e.g. http://{}:{}/?t={} where the lab's names resolve)", hostname,
                      hostname, port, token)};
}

void no_page_server() {
  throw ConfigError("this dmgn was built without cpp-httplib / nlohmann-json: apt install libcpp-httplib-dev "
                    "nlohmann-json3-dev, re-run cmake and rebuild");
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

Outputs& outputs() {
  static Outputs o;
  return o;
}

void add_output_options(CLI::App* cmd) {
  cmd->add_option("--store", outputs().store,
                  "Run store (SQLite; default <--out-root>/runs.sqlite, else the config's runtime.store, else "
                  "results/runs.sqlite)");
  cmd->add_option("--out-root", outputs().root,
                  "Output root: the store <DIR>/runs.sqlite and run folders <DIR>/runs/ (default results/)");
}

std::string store_path(const Config* cfg) {
  const auto& o = outputs();
  if (!o.store.empty()) return o.store;
  if (!o.root.empty()) return (std::filesystem::path(o.root) / "runs.sqlite").string();
  if (cfg) return cfg->get_string("runtime.store");
  return store::kDefaultStoreFile;
}

std::filesystem::path output_root(const Config* cfg) {
  if (!outputs().root.empty()) return outputs().root;
  const auto parent = std::filesystem::path(store_path(cfg)).parent_path();
  return parent.empty() ? std::filesystem::path(".") : parent;
}

std::vector<std::string> output_overrides() {
  const auto& o = outputs();
  std::vector<std::string> out;
  const auto quoted = [](const std::string& v) { return fmt::format("\"{}\"", v); };
  if (!o.store.empty() || !o.root.empty()) out.push_back("runtime.store=" + quoted(store_path()));
  if (!o.root.empty()) out.push_back("runtime.out_dir=" + quoted((std::filesystem::path(o.root) / "runs").string()));
  return out;
}

void apply_outputs(Config& cfg) {
  for (const auto& s : output_overrides()) cfg.set(s);
}

std::vector<std::string> output_words() {
  std::vector<std::string> out;
  if (!outputs().store.empty()) out.insert(out.end(), {"--store", outputs().store});
  if (!outputs().root.empty()) out.insert(out.end(), {"--out-root", outputs().root});
  return out;
}

std::vector<std::filesystem::path> default_dataset_files() {
  std::vector<std::filesystem::path> out;
  const char* xdg = std::getenv("XDG_CONFIG_HOME");
  const char* home = std::getenv("HOME");
  std::filesystem::path user;
  if (xdg && *xdg) user = std::filesystem::path(xdg) / "dmgn" / "datasets.toml";
  else if (home && *home) user = std::filesystem::path(home) / ".config" / "dmgn" / "datasets.toml";
  std::error_code ec;
  if (!user.empty() && std::filesystem::is_regular_file(user, ec)) out.push_back(user);
  if (const char* env = std::getenv("DMGN_DATASETS")) {
    std::string list = env;
    size_t start = 0;
    while (start <= list.size()) {
      const size_t end = std::min(list.find(':', start), list.size());
      const std::string f = list.substr(start, end - start);
      if (!f.empty()) {
        if (!std::filesystem::is_regular_file(f, ec))
          throw ConfigError(fmt::format("DMGN_DATASETS names '{}', which is not a file", f));
        out.push_back(f);
      }
      start = end + 1;
    }
  }
  return out;
}

void add_datasets_options(CLI::App& app) {
  for (auto* sub : app.get_subcommands([](CLI::App*) { return true; })) {
    if (!sub->get_subcommands([](CLI::App*) { return true; }).empty()) {
      add_datasets_options(*sub);
      continue;
    }
    if (sub->get_option_no_throw("--datasets")) continue;
    sub->add_option_function<std::vector<std::string>>(
           "--datasets",
           [](const std::vector<std::string>& files) {
             auto all = Config::dataset_files();
             for (const auto& f : files) {
               if (!std::filesystem::is_regular_file(f))
                 throw ConfigError(fmt::format("--datasets '{}' is not a file", f));
               all.emplace_back(f);
             }
             Config::set_dataset_files(all);
           },
           "Datasets file: [datasets.<name>] tables for --dataset NAME (repeatable; read after "
           "~/.config/dmgn/datasets.toml and DMGN_DATASETS; docs/datasets.md)")
        ->type_name("FILE");
  }
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
