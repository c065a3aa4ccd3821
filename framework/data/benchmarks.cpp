#include "data/benchmarks.h"

#include <fmt/format.h>
#include <fmt/ranges.h>  // fmt::join (its home since fmt 11)

#include <algorithm>
#include <cstdlib>

#include "core/error.h"
#include "core/log.h"
#include "core/options.h"

// The layouts below name only the PairRule fields they set (designated initializers); the
// others keep their defaults on purpose.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace dmgn::data {

namespace fs = std::filesystem;

namespace {

constexpr const char* kAnyImage = R"((.+)\.(png|jpe?g|bmp|tiff?|webp))";

PairRule same_names(std::string name, std::string in, std::string gt, std::string note) {
  return PairRule{.name = std::move(name),
                  .input_dir = std::move(in),
                  .target_dir = std::move(gt),
                  .input_pattern = kAnyImage,
                  .target_name = "{1}.*",
                  .note = std::move(note)};
}

std::string entry_key(const std::string& name) { return "datasets." + name; }

void log_unpaired(const std::string& name, const Listing& listing) {
  for (const auto& i : listing.missing)
    log::warn(fmt::format("dataset '{}': {} (left out)", name, i.message));
  for (const auto& i : listing.issues) log::warn(fmt::format("dataset '{}': {}", name, i.message));
}

}  // namespace

AdapterRegistry& adapters() {
  static AdapterRegistry registry("adapter");
  return registry;
}

bool skip_bad_samples(const Config& full) {
  const std::string p = full.get_string("data.on_bad_sample");
  if (p != "fail" && p != "skip")
    throw ConfigError(fmt::format("config key 'data.on_bad_sample' must be \"fail\" or \"skip\", got \"{}\"", p));
  return p == "skip";
}

bool is_benchmark(const Config& full, const std::string& name) {
  return !name.empty() && name.find('.') == std::string::npos && full.has(entry_key(name));
}

std::vector<std::string> benchmark_names(const Config& full) {
  std::vector<std::string> out;
  if (const auto* t = full.root().get_as<toml::table>("datasets"))
    for (const auto& [k, v] : *t)
      if (v.is_table()) out.emplace_back(k.str());
  std::sort(out.begin(), out.end());
  return out;
}

std::string expand_path(const std::string& value, const std::string& key) {
  std::string out;
  size_t i = 0;
  while (i < value.size()) {
    const size_t open = value.find("${", i);
    if (open == std::string::npos) {
      out += value.substr(i);
      break;
    }
    const size_t close = value.find('}', open);
    if (close == std::string::npos)
      throw ConfigError(fmt::format("config key '{}': unclosed '${{' in \"{}\"", key, value));
    out += value.substr(i, open - i);
    const std::string var = value.substr(open + 2, close - open - 2);
    const char* env = std::getenv(var.c_str());
    if (env && *env) {
      out += env;
    } else if (var == "DMGN_DATA") {
      out += "datasets";
    } else {
      throw ConfigError(fmt::format("config key '{}': environment variable {} is not set (in \"{}\")",
                                    key, var, value));
    }
    i = close + 1;
  }
  return out;
}

BenchmarkEntry BenchmarkEntry::from_config(const Config& full, const std::string& name) {
  if (!is_benchmark(full, name)) throw ConfigError(fmt::format("config has no [datasets.{}] table", name));
  BenchmarkEntry b;
  b.name = name;
  read_options(full.sub(entry_key(name)),
               {{"adapter", &b.adapter}, {"task", &b.task}, {"root", &b.root}, {"train_root", &b.train_root},
                {"layout", &b.layout}, {"only", &b.only}, {"input_dir", &b.input_dir}, {"target_dir", &b.target_dir},
                {"input_pattern", &b.input_pattern}, {"target_name", &b.target_name}});
  return b;
}

fs::path BenchmarkEntry::split_root(Split split) const {
  const char* key = split == Split::train ? "train_root" : "root";
  const std::string& value = split == Split::train ? train_root : root;
  if (value.empty())
    throw ConfigError(split == Split::train
                          ? fmt::format("dataset '{}' has no train split: set datasets.{}.train_root", name, name)
                          : fmt::format("dataset '{}': set datasets.{}.root", name, name));
  return expand_path(value, fmt::format("datasets.{}.{}", name, key));
}

fs::path benchmark_root(const Config& full, const std::string& name, Split split) {
  return BenchmarkEntry::from_config(full, name).split_root(split);
}

std::string dataset_task(const Config& full, const std::string& name) {
  if (is_benchmark(full, name)) {
    const std::string t = BenchmarkEntry::from_config(full, name).task;
    if (!t.empty()) return t;
  }
  return full.get_string("task.name");
}

DatasetPtr open_dataset(const Config& full, const std::string& name, Split split) {
  if (!is_benchmark(full, name)) {
    if (datasets().contains(name)) return datasets().make(name, full, split);
    // "<dataset>/<part>": one part of a dataset made of parts (data/multitask.h).
    const auto slash = name.find('/');
    if (slash != std::string::npos && datasets().contains(name.substr(0, slash))) {
      const auto whole = datasets().make(name.substr(0, slash), full, split);
      std::vector<std::string> names;
      for (const auto& part : whole->parts()) {
        if (part->name() == name) return std::const_pointer_cast<Dataset>(part);
        names.push_back(part->name());
      }
      throw ConfigError(fmt::format("unknown dataset '{}': '{}' has the parts {}", name, name.substr(0, slash),
                                    names.empty() ? std::string("(none)") : fmt::format("{}", fmt::join(names, ", "))));
    }
    throw ConfigError(fmt::format("unknown dataset '{}': not a [datasets.{}] entry ({}) nor a registry "
                                  "dataset ({})",
                                  name, name, fmt::join(benchmark_names(full), ", "),
                                  fmt::join(datasets().names(), ", ")));
  }
  const BenchmarkEntry e = BenchmarkEntry::from_config(full, name);
  const std::string& adapter = e.adapter;
  if (!adapters().contains(adapter))
    throw ConfigError(fmt::format("config key 'datasets.{}.adapter': {}", name, adapters().unknown_message(adapter)));
  std::vector<PairRule> rules = adapters().make(adapter, e);
  const std::string& layout = e.layout;
  if (layout != "auto") {
    std::vector<std::string> known;
    const auto it = std::find_if(rules.begin(), rules.end(), [&](const PairRule& r) { return r.name == layout; });
    for (const auto& r : rules) known.push_back(r.name);
    if (it == rules.end())
      throw ConfigError(fmt::format("config key 'datasets.{}.layout': adapter '{}' has no layout '{}' "
                                    "(known: auto, {})",
                                    name, adapter, layout, fmt::join(known, ", ")));
    rules = {*it};
  }
  const fs::path root = e.split_root(split);
  Listing listing = list_pairs_auto(root, rules, name);

  // only = [...]: ids, input stems or keys. Inputs without ground truth (or with a broken link)
  // outside it are none of this dataset's business: they neither stop it nor count as problems.
  const auto& only = e.only;
  if (!only.empty()) {
    std::set<std::string> found;
    const auto listed = [&](std::initializer_list<std::string> names) {
      for (const auto& o : only)
        if (std::find(names.begin(), names.end(), o) != names.end()) {
          found.insert(o);
          return true;
        }
      return false;
    };
    std::vector<PairedFile> kept;
    for (const auto& p : listing.pairs)
      if (listed({p.id, p.input.stem().string(), p.key})) kept.push_back(p);
    std::vector<DataIssue> missing;
    for (const auto& m : listing.missing) {
      const fs::path f(m.file);
      if (listed({f.lexically_relative(root).generic_string(), f.stem().string()})) missing.push_back(m);
    }
    for (const auto& o : only)
      if (!found.count(o))
        throw ConfigError(fmt::format("config key 'datasets.{}.only': '{}' matches no sample under '{}'",
                                      name, o, root.string()));
    listing.pairs = std::move(kept);
    listing.missing = std::move(missing);
  }

  // Inputs without ground truth, or with a broken link for a file: fatal unless skipped.
  const bool skip = skip_bad_samples(full);
  const auto& missing = listing.missing;
  if (!missing.empty() && !skip)
    throw DataError(fmt::format("dataset '{}': {}{} (data.on_bad_sample = \"fail\"; `dmgn data check` "
                                "lists every problem)",
                                name, missing.front().message,
                                missing.size() > 1
                                    ? fmt::format(", and {} more input(s) without ground truth or with a broken link",
                                                  missing.size() - 1)
                                    : ""));
  log_unpaired(name, listing);

  PairedOptions o;
  o.name = name;
  o.split = split;
  o.augment = AugmentOptions::from_config(full);
  o.seed = static_cast<uint64_t>(full.get_int("run.seed"));
  o.provenance = {{"adapter", adapter}, {"root", root.string()},
                  {"task", e.task.empty() ? full.get_string("task.name") : e.task}};
  return std::make_shared<PairedDataset>(std::move(listing), std::move(o));
}

void register_adapters() {
  // Layouts as published and as the well-known repositories arrange them (datasets/README.md).
  adapters().add("paired",
                 "generic paired folders: [datasets.<name>] input_dir, target_dir, input_pattern, "
                 "target_name",
                 [](const BenchmarkEntry& e) -> std::vector<PairRule> {
                   return {PairRule{.name = "paired",
                                    .input_dir = e.input_dir,
                                    .target_dir = e.target_dir,
                                    .input_pattern = e.input_pattern,
                                    .target_name = e.target_name,
                                    .note = "the [datasets.<name>] keys"}};
                 });
  adapters().add("real20", "Real20 (Zhang et al. 2018): blended/ + transmission_layer/, same names",
                 [](const BenchmarkEntry&) -> std::vector<PairRule> {
                   return {same_names("blended", "blended", "transmission_layer",
                                      "Zhang et al. 2018 release; ERRNet real20 / real20_420"),
                           same_names("input-target", "input", "target", "input/ + target/ copies")};
                 });
  adapters().add(
      "sir2",
      "SIR^2 Solid / Postcard / Wild: blended/ + transmission_layer/ (ERRNet, YTMT, DSRNet), or the "
      "release's scene folders (m.* -> g.*; Postcard *-m-* -> *-g-*)",
      [](const BenchmarkEntry&) -> std::vector<PairRule> {
        return {same_names("blended", "blended", "transmission_layer", "ERRNet / YTMT / DSRNet prepared"),
                PairRule{.name = "scenes",
                         .input_pattern = R"(m\.(jpe?g|png))",
                         .target_name = "g.*",
                         .recursive = true,
                         .note = "SIR^2 release (Solid, Wild): <scene>/m.jpg -> g.jpg"},
                PairRule{.name = "postcard",
                         .input_pattern = R"((.+)-m-(.+)\.(png|jpe?g))",
                         .target_name = "{1}-g-{2}.*",
                         .recursive = true,
                         .note = "SIR^2 release (Postcard): ab-5-m-1.png -> ab-5-g-1.png"}};
      });
  adapters().add(
      "rain100",
      "Rain100L / Rain100H: input/ + target/ (MPRNet, Restormer), rainy/rain-N -> norain-N "
      "(PReNet), rain/ + norain/ (JORDER), one folder rain-N + norain-N (PReNet train)",
      [](const BenchmarkEntry&) -> std::vector<PairRule> {
        return {same_names("input-target", "input", "target", "MPRNet / Restormer: same names"),
                PairRule{.name = "prenet",
                         .input_dir = "rainy",
                         .input_pattern = R"(rain-(\d+)\.png)",
                         .target_name = "norain-{1}.png",
                         .note = "PReNet test: rainy/rain-001.png -> norain-001.png one folder up"},
                PairRule{.name = "jorder",
                         .input_dir = "rain",
                         .target_dir = "norain",
                         .input_pattern = R"((?:no)?rain-(\d+)(?:x2)?\.png)",
                         .target_name = "norain-{1}.png",
                         .note = "JORDER: rain/norain-N[x2].png -> norain/norain-N.png"},
                PairRule{.name = "rainy-gt",
                         .input_dir = "rainy",
                         .target_dir = "gt",
                         .input_pattern = R"(rain-(\d+)\.png)",
                         .target_name = "norain-{1}.png",
                         .note = "PromptIR: rainy/rain-N.png -> gt/norain-N.png"},
                PairRule{.name = "flat",
                         .input_pattern = R"(rain-(\d+)\.png)",
                         .target_name = "norain-{1}.png",
                         .note = "PReNet train folders: rain-N.png and norain-N.png side by side"}};
      });
  adapters().add(
      "sots",
      "RESIDE SOTS indoor / outdoor: hazy/<id>_<k>.png (ten per clear image indoors) or "
      "hazy/<id>_<beta>_<A>.jpg -> gt/<id>.png; clear/ or GT/ also accepted",
      [](const BenchmarkEntry&) -> std::vector<PairRule> {
        const std::string hazy = R"(([^_]+)_.+\.(png|jpe?g))";
        std::vector<PairRule> rules;
        for (const char* gt : {"gt", "clear", "GT"})
          rules.push_back(PairRule{.name = fmt::format("hazy-{}", gt),
                                   .input_dir = "hazy",
                                   .target_dir = gt,
                                   .input_pattern = hazy,
                                   .target_name = "{1}.*",
                                   .crop_target = true,
                                   .note = "RESIDE SOTS release (FFA-Net: clear/)"});
        rules.push_back(same_names("input-target", "input", "target", "PromptIR copies"));
        return rules;
      });
  adapters().add(
      "ohaze", "O-HAZE (NTIRE 2018): hazy/NN_outdoor_hazy.jpg -> GT/NN_outdoor_GT.jpg",
      [](const BenchmarkEntry&) -> std::vector<PairRule> {
        std::vector<PairRule> rules;
        for (const std::string top : {"", "# O-HAZY NTIRE 2018/"})
          rules.push_back(PairRule{.name = top.empty() ? "hazy-GT" : "release",
                                   .input_dir = top + "hazy",
                                   .target_dir = top + "GT",
                                   .input_pattern = R"((\d+)_outdoor_hazy\.(jpe?g|png))",
                                   .target_name = "{1}_outdoor_GT.*",
                                   .note = "O-HAZE release"});
        return rules;
      });
  adapters().add("dcpdn",
                 "TestA-DCPDN (Zhang & Patel 2018): <n>.h5 files with HxWx3 datasets 'haze' and 'gt'",
                 [](const BenchmarkEntry&) -> std::vector<PairRule> {
                   return {PairRule{.name = "h5",
                                    .input_pattern = "haze",
                                    .target_name = "gt",
                                    .hdf5 = true,
                                    .note = "DCPDN test set (facades/ in DCPDN, TestA in DM2F-Net)"}};
                 });
}

}  // namespace dmgn::data
