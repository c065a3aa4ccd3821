// dmgn list | config show | config keys | info
#include <fmt/format.h>
#include <fmt/ranges.h>  // fmt::join

#include <algorithm>
#include <cstdio>
#include <map>
#include <sstream>

#include "cli/commands.h"
#include "core/registry.h"
#include "core/schema.h"
#include "losses/terms.h"
#include "metrics/macs.h"
#include "models/model.h"
#include "models/system_info.h"
#include "models/task_routed.h"
#include "nn/discriminators.h"
#include "nn/layers.h"
#include "train/trainer.h"

namespace dmgn::cli {

void add_list(CLI::App& app) {
  auto* cmd = app.add_subcommand("list", "Print every registered component, one line each");
  cmd->callback([] {
    std::string kind;
    for (const auto& e : RegistryCatalog::instance().all()) {
      if (e.kind != kind) {
        if (!kind.empty()) std::printf("\n");
        kind = e.kind;
      }
      std::printf("%-14s %-22s %s\n", e.kind.c_str(), e.name.c_str(), e.description.c_str());
    }
  });
}

namespace {

void collect_leaves(const toml::table& t, const std::string& prefix, std::vector<std::pair<std::string, const toml::node*>>& out) {
  for (auto&& [k, v] : t) {
    const std::string key = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
    if (v.is_table()) collect_leaves(*v.as_table(), key, out);
    else out.emplace_back(key, &v);
  }
}

void print_config_keys(const Config& cfg) {
  const auto cat = schema::catalog();
  std::vector<std::pair<std::string, const toml::node*>> leaves;
  collect_leaves(cfg.root(), "", leaves);
  std::printf("# %zu keys; components: %s\n", leaves.size(), fmt::format("{}", fmt::join(cfg.components(), ", ")).c_str());
  for (const auto& [key, node] : leaves) {
    std::ostringstream os;
    node->visit([&](auto&& x) { os << x; });
    std::string value;  // one line: the formatter breaks long arrays
    for (char ch : os.str()) {
      if (ch == '\n' || (ch == ' ' && !value.empty() && (value.back() == ' ' || value.back() == '['))) continue;
      if (ch == ']' && !value.empty() && value.back() == ' ') value.pop_back();
      value += ch;
    }
    const auto doc = cat->describe(key, cfg.components());
    std::printf("%s = %s\n    %s; set in %s%s\n", key.c_str(), value.c_str(), doc.owner.c_str(),
                cfg.source_of(key).c_str(), doc.rule.empty() ? "" : ("; rule " + doc.rule).c_str());
    if (!doc.reason.empty()) std::printf("    %s\n", doc.reason.c_str());
  }
}

}  // namespace

void add_config(CLI::App& app) {
  auto* cfg_cmd = app.add_subcommand("config", "Inspect configs");
  cfg_cmd->require_subcommand(1);
  auto* show = cfg_cmd->add_subcommand("show", "Print the resolved config (canonical TOML) and its hash");
  static std::string file;
  static std::vector<std::string> sets;
  show->add_option("file", file, "Config file")->required();
  show->add_option("--set", sets, "Override key.path=value (repeatable)");
  show->callback([] {
    const Config cfg = load_config(file, sets);
    std::printf("# resolved from %s\n# hash %s (identity of the run; [runtime] excluded)\n# components: %s\n%s",
                file.c_str(), cfg.hash().c_str(), fmt::format("{}", fmt::join(cfg.components(), ", ")).c_str(),
                cfg.canonical().c_str());
  });
  auto* keys = cfg_cmd->add_subcommand(
      "keys", "Every key of a resolved config: value, where it was set, the component it belongs to, its rule and "
              "the reason for its default");
  static std::string keys_file;
  static std::vector<std::string> keys_sets;
  keys->add_option("file", keys_file, "Config file")->required();
  keys->add_option("--set", keys_sets, "Override key.path=value (repeatable)");
  keys->callback([] { print_config_keys(load_config(keys_file, keys_sets)); });
}

void add_info(CLI::App& app) {
  auto* cmd = app.add_subcommand("info", "Parameters and multiply-accumulates of a configured model");
  static std::string file;
  static std::vector<std::string> sets;
  static int64_t size = 256;
  cmd->add_option("config", file, "Config file")->required();
  cmd->add_option("--set", sets, "Override key.path=value (repeatable)");
  cmd->add_option("--size", size, "Square input size for the MAC count")->check(CLI::Range(16, 4096));
  cmd->callback([] {
    const Config cfg = load_config(file, sets);
    train::apply_threads(cfg);
    torch::manual_seed(cfg.get_int("run.seed"));
    auto model = models::build_model(cfg);
    // The terms that would train it (weight > 0, output declared; names checked: a typo stops
    // here, before anything is printed), without building the losses (a recipe may hold what a
    // loss needs, e.g. Location-aware SIRR's VGG-19).
    const auto plan = losses::plan_terms(cfg, model->spec());
    const auto pc = nn::count_parameters(*model);
    const int64_t vest = model->vestigial_parameters();
    const auto count_macs = [&] {
      torch::NoGradGuard no_grad;
      model->eval();
      metrics::MacCounter counter;
      model->forward(torch::zeros({1, 3, size, size}));
      return counter.total();
    };
    const uint64_t macs = count_macs();
    // A task-routed model (MBN): the MACs of every task's path.
    std::vector<std::string> per_task;
    auto* routed = dynamic_cast<models::TaskRouted*>(model.get());
    const bool chain = cfg.has("model.mode") && cfg.get_string("model.mode") == "recurrent";  // one path
    if (routed && !chain) {
      const std::string was = routed->routed();
      for (const auto& t : routed->routed_tasks()) {
        routed->route(t);
        per_task.push_back(fmt::format("{} {:.1f} G", t, static_cast<double>(count_macs()) / 1e9));
      }
      routed->route(was);
    }
    std::printf("config      %s (hash %s)\n", file.c_str(), cfg.short_hash().c_str());
    std::printf("model       %s, task %s%s\n", cfg.get_string("model.name").c_str(), model->spec().task.c_str(),
                cfg.has("model.cell") ? (", cell " + cfg.get_string("model.cell")).c_str() : "");
    std::printf("components  %s\n", fmt::format("{}", fmt::join(cfg.components(), ", ")).c_str());
    std::printf("parameters  %s total, %s trainable\n", thousands(pc.total).c_str(),
                thousands(pc.trainable).c_str());
    if (vest > 0)
      std::printf("            of which %s vestigial: created by the official code, never run%s\n",
                  thousands(vest).c_str(), cfg.has("model.vestigial") ? " (model.vestigial = false drops them)" : "");
    if (const int64_t loss_only = model->loss_only_parameters(); loss_only > 0)
      std::printf("            of which %s for the losses alone (never run by forward): %s in the network\n",
                  thousands(loss_only).c_str(), thousands(pc.total - vest - loss_only).c_str());
    const auto sections = model->parameter_sections();
    if (!sections.empty()) {
      std::vector<std::string> parts;
      for (const auto& [name, n] : sections) parts.push_back(name + " " + thousands(n));
      std::printf("sections    %s\n", fmt::format("{}", fmt::join(parts, " | ")).c_str());
    }
    std::printf("MACs        %.1f G for one 3x%lldx%lld image (every conv and linear layer that runs, "
                "VGG passes included)\n",
                static_cast<double>(macs) / 1e9, static_cast<long long>(size), static_cast<long long>(size));
    if (!per_task.empty())
      std::printf("            per task path: %s\n", fmt::format("{}", fmt::join(per_task, ", ")).c_str());
    if (model->spec().iterations > 1)
      std::printf("            %.1f G per iteration (%lld iterations of one set of weights)\n",
                  static_cast<double>(macs) / 1e9 / static_cast<double>(model->spec().iterations),
                  static_cast<long long>(model->spec().iterations));
    // What the model declares (models/outputs.h) and what the recipe trains it with.
    const auto& spec = model->spec();
    static const char* kinds[] = {"image", "mask", "map"};
    for (size_t i = 0; i < spec.outputs.size(); ++i) {
      const auto& d = spec.outputs[i];
      std::printf("%s %s%s (%s%s): %s\n", i == 0 ? "outputs    " : "           ", d.key.c_str(),
                  d.key == spec.primary ? " [primary]" : "", kinds[static_cast<int>(d.kind)], d.list ? " list" : "",
                  d.what.c_str());
    }
    std::printf("inputs      %s, padded to a multiple of %lld\n",
                spec.input_range == models::InputRange::minus_one_one ? "[-1, 1]" : "[0, 1]",
                static_cast<long long>(spec.size_multiple));
    std::vector<std::string> listed, batch_optional;
    for (const auto& t : plan.active) {
      listed.push_back(fmt::format("{} {:g} ({} {} vs {})", t.name, t.weight, t.loss, t.output, t.target));
      if (t.optional)
        batch_optional.push_back(fmt::format("{} (needs {}{})", t.name, t.target,
                                             t.condition.empty() ? "" : " and " + t.condition));
    }
    if (models::training_free(cfg))
      std::printf("recipe      none: training-free (dmgn train evaluates it as built)\n");
    else
      std::printf("recipe      %s: %s\n", cfg.get_string("train.recipe").c_str(),
                  fmt::format("{}", fmt::join(listed, ", ")).c_str());
    // Optional terms this configuration drops, one line each with the reason; and the optional
    // terms a batch without their target drops (training says so when it happens).
    for (const auto& d : plan.dropped)
      std::printf("dropped     %s: %s (optional term)\n", d.name.c_str(), d.reason.c_str());
    if (!batch_optional.empty())
      std::printf("optional    %s: dropped from a batch that lacks it\n",
                  fmt::format("{}", fmt::join(batch_optional, ", ")).c_str());
    // The discriminator modules its adversarial terms train (one per module name).
    std::vector<std::string> modules;
    for (const auto& t : plan.active)
      if (!t.module.empty() && std::find(modules.begin(), modules.end(), t.module) == modules.end())
        modules.push_back(t.module);
    if (!modules.empty() && cfg.has("discriminator.name")) {
      const auto d = nn::discriminators().make(cfg.get_string("discriminator.name"), cfg.sub("discriminator"));
      std::printf("critics     %s: %s, %s parameters each\n", fmt::format("{}", fmt::join(modules, ", ")).c_str(),
                  cfg.get_string("discriminator.name").c_str(), thousands(nn::count_parameters(*d).total).c_str());
    }
  });
}

}  // namespace dmgn::cli
