// dmgn data check | data list
#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>

#include "cli/commands.h"
#include "core/error.h"
#include "core/log.h"
#include "data/benchmarks.h"
#include "data/check.h"
#include "core/cpu_memory.h"
#include "models/model.h"
#include "train/evaluate.h"
#include "train/tiling.h"
#include "train/trainer.h"

namespace dmgn::cli {

namespace {

void print_check(const data::DatasetCheck& c, size_t max_lines) {
  std::printf("%s (%s split): ", c.name.c_str(), data::split_name(c.split));
  if (!c.error.empty()) {
    std::printf("CANNOT OPEN: %s\n", c.error.c_str());
    return;
  }
  std::printf("%zu samples | %s\n", c.samples, c.source.c_str());
  size_t shown = 0;
  for (const auto& i : c.issues) {
    if (shown++ == max_lines) {
      std::printf("  ... %zu more (--all lists them)\n", c.issues.size() - max_lines);
      break;
    }
    std::printf("  %-13s %s\n", i.kind.c_str(), i.message.c_str());
  }
  const int64_t problems = c.problems();
  std::printf("  -> %s%s\n",
              problems ? fmt::format("{} problem(s): {}", problems, data::count_by_kind(c.issues, true)).c_str()
                       : "no problems",
              c.converted() ? fmt::format("; {} grey file(s) converted to RGB", c.converted()).c_str() : "");
}

// The most pixels the config's model can restore in the memory evaluation may use, and why (0 =
// no limit: a model of local operations is restored in tiles, or its footprint is unknown).
std::pair<int64_t, std::string> restorable_pixels(const Config& cfg) {
  models::ModelPtr model;
  try {
    model = models::build_model(cfg);
  } catch (const std::exception& e) {
    log::warn(fmt::format("data check: no memory check (the model cannot be built: {})", e.what()));
    return {0, ""};
  }
  if (model->spec().receptive_radius >= 0) return {0, ""};
  const auto fp = train::measure_footprint(*model, torch::kCPU, torch::kFloat);
  if (!fp.known || fp.per_pixel <= 0) return {0, ""};
  const double given = train::memory_budget(cfg);
  const double budget = given > 0 ? given : static_cast<double>(available_memory());
  const double pixels = (budget / train::kMemoryMargin - fp.fixed) / fp.per_pixel;
  return {std::max<int64_t>(1, static_cast<int64_t>(pixels)),
          fmt::format("model '{}' needs about {:.1f} KiB per pixel, {:.1f} GiB may be used: {}",
                      cfg.get_string("model.name"), fp.per_pixel / 1024.0, budget / (1024.0 * 1024.0 * 1024.0),
                      given > 0 ? "runtime.memory_gb" : "the memory free now, else set runtime.memory_gb")};
}

}  // namespace

void add_data(CLI::App& app) {
  auto* cmd = app.add_subcommand("data", "Datasets: check them before training, list the benchmarks");
  cmd->require_subcommand(1);
  {
    auto* chk = cmd->add_subcommand(
        "check", "Validate a config's datasets: counts, unpaired files, size mismatches, undecodable files");
    static std::string file;
    static std::vector<std::string> sets, names;
    static bool all = false;
    static int threads = 0;
    chk->add_option("config", file, "Config file (default: the built-in defaults, with --dataset)");
    chk->add_option("--config", file, "The same as the positional config (as `dmgn eval --config`)");
    chk->add_option("--set", sets, "Override key.path=value (repeatable)");
    chk->add_option("--dataset", names,
                    "Check these datasets (the test split, and the train split where it is present) instead of the "
                    "config's data.*");
    chk->add_option("--threads", threads, "Reader threads (0 = data.workers, at least 1)")
        ->check(within(0, 64, "each reader is a thread decoding images"));
    chk->add_flag("--all", all, "List every issue (default: the first 20 per dataset)");
    chk->callback([] {
      if (file.empty() && names.empty())
        throw ConfigError("data check: give a config (its data.* datasets) or --dataset NAME");
      const Config cfg = file.empty() ? Config::defaults(sets) : load_config(file, sets);
      const int n = threads > 0 ? threads : static_cast<int>(std::max<int64_t>(1, cfg.get_int("data.workers")));
      train::apply_threads(cfg);
      const auto need = models::input_requirement(cfg);  // samples the model cannot take are problems too
      const auto [max_pixels, max_why] = restorable_pixels(cfg);  // and those too large for memory
      const auto checks = data::check_datasets(
          cfg, names, n,
          [](const data::DatasetCheck& c) {
            print_check(c, all ? SIZE_MAX : 20);
            std::fflush(stdout);
          },
          need.min_side, need.why, max_pixels, max_why);
      int64_t samples = 0, problems = 0, converted = 0;
      for (const auto& c : checks) {
        samples += static_cast<int64_t>(c.samples);
        problems += c.problems();
        converted += c.converted();
      }
      const std::string policy = cfg.get_string("data.on_bad_sample");
      std::printf("\nsummary: %zu dataset split(s), %lld samples, %lld problem(s), %lld grey file(s) converted; "
                  "data.on_bad_sample = \"%s\"\n",
                  checks.size(), static_cast<long long>(samples), static_cast<long long>(problems),
                  static_cast<long long>(converted), policy.c_str());
      bool unopenable = false;
      for (const auto& c : checks) unopenable = unopenable || !c.error.empty();
      if (unopenable) throw DataError("data check: a dataset cannot be opened (see above)");
      if (problems > 0 && policy == "fail")
        throw DataError(fmt::format("data check: {} problem(s); training would stop at the first one "
                                    "(data.on_bad_sample = \"fail\"; \"skip\" leaves bad samples out)",
                                    problems));
      if (problems > 0) std::printf("with on_bad_sample = \"skip\" these samples will be left out and counted\n");
    });
  }
  {
    auto* ls = cmd->add_subcommand("list", "The [datasets] benchmarks of a config: adapter, root, whether it exists");
    static std::string file;
    static std::vector<std::string> sets;
    ls->add_option("config", file, "Config file (default: the built-in defaults)");
    ls->add_option("--set", sets, "Override key.path=value (repeatable)");
    ls->callback([] {
      const Config cfg = file.empty() ? Config::defaults(sets) : load_config(file, sets);
      std::printf("%-16s %-9s %-10s %-8s %s\n", "name", "adapter", "task", "found", "root (test split)");
      for (const auto& name : data::benchmark_names(cfg)) {
        const Config e = cfg.sub("datasets." + name);
        std::string root, found = "no";
        try {
          root = data::benchmark_root(cfg, name, data::Split::heldout).string();
          std::error_code ec;
          found = std::filesystem::is_directory(root, ec) ? "yes" : "no";
        } catch (const std::exception& ex) {
          root = ex.what();
        }
        std::printf("%-16s %-9s %-10s %-8s %s\n", name.c_str(), e.get_string("adapter").c_str(),
                    e.get_string("task").c_str(), found.c_str(), root.c_str());
      }
    });
  }
}

}  // namespace dmgn::cli
