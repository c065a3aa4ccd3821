#include "sweep/spec.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <toml++/toml.h>

#include <fstream>
#include <set>
#include <sstream>

#include "core/error.h"

namespace dmgn::sweep {
namespace fs = std::filesystem;

namespace {

struct Reader {
  fs::path file;

  [[noreturn]] void fail(const std::string& key, const std::string& what) const {
    throw ConfigError(fmt::format("{}: {}: {}", file.string(), key, what));
  }

  void only_keys(const toml::table& t, const std::string& where, const std::set<std::string>& known) const {
    for (const auto& [k, v] : t)
      if (!known.count(std::string(k.str())))
        fail(where.empty() ? std::string(k.str()) : where + "." + std::string(k.str()),
             fmt::format("unknown key (known: {})", fmt::join(known, ", ")));
  }

  std::string string(const toml::table& t, const std::string& where, const char* key,
                     const std::string& fallback = "") const {
    const auto* n = t.get(key);
    if (!n) return fallback;
    if (!n->is_string()) fail(where + "." + key, "must be a string");
    return n->as_string()->get();
  }

  std::vector<std::string> strings(const toml::table& t, const std::string& where, const char* key) const {
    std::vector<std::string> out;
    const auto* n = t.get(key);
    if (!n) return out;
    if (!n->is_array()) fail(where + "." + key, "must be an array of strings");
    for (const auto& e : *n->as_array()) {
      if (!e.is_string()) fail(where + "." + key, "must be an array of strings");
      out.push_back(e.as_string()->get());
    }
    return out;
  }

  std::vector<double> numbers(const toml::table& t, const std::string& where, const char* key) const {
    std::vector<double> out;
    const auto* n = t.get(key);
    if (!n) return out;
    if (!n->is_array()) fail(where + "." + key, "must be an array of numbers");
    for (const auto& e : *n->as_array()) {
      if (e.is_integer())
        out.push_back(static_cast<double>(e.as_integer()->get()));
      else if (e.is_floating_point())
        out.push_back(e.as_floating_point()->get());
      else
        fail(where + "." + key, "must be an array of numbers");
    }
    return out;
  }

  fs::path path(const std::string& p) const { return p.empty() ? fs::path() : file.parent_path() / p; }
};

std::string number_text(double v) { return fmt::format("{}", v); }

// A TOML basic string literal of `s` (for --set values).
std::string toml_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

}  // namespace

std::string SweepRun::label() const { return fmt::format("{} seed {}", variant.empty() ? "(default)" : variant, seed); }

SweepSpec load_sweep(const fs::path& file) {
  std::ifstream in(file);
  if (!in) throw IoError(fmt::format("cannot read sweep file '{}'", file.string()));
  std::stringstream text;
  text << in.rdbuf();
  toml::table root;
  try {
    root = toml::parse(text.str(), file.string());
  } catch (const toml::parse_error& e) {
    const auto& b = e.source().begin;
    throw ConfigError(fmt::format("{}:{}:{}: malformed TOML: {}", file.string(), b.line, b.column, e.description()));
  }
  const Reader r{file};
  r.only_keys(root, "", {"sweep", "variants", "axes"});
  SweepSpec spec;
  spec.file = file;
  spec.name = file.stem().string();
  if (const auto* s = root.get("sweep")) {
    if (!s->is_table()) r.fail("sweep", "must be a table");
    const auto& t = *s->as_table();
    r.only_keys(t, "sweep", {"name", "config", "seeds", "set", "layers", "nproc"});
    spec.name = r.string(t, "sweep", "name", spec.name);
    spec.config = r.path(r.string(t, "sweep", "config"));
    for (double v : r.numbers(t, "sweep", "seeds")) {
      if (v != static_cast<double>(static_cast<int64_t>(v)) || v < 0) r.fail("sweep.seeds", "must be non-negative integers");
      spec.seeds.push_back(static_cast<int64_t>(v));
    }
    spec.sets = r.strings(t, "sweep", "set");
    for (const auto& l : r.strings(t, "sweep", "layers")) {
      spec.layers.push_back(r.path(l));
      if (!fs::exists(spec.layers.back())) r.fail("sweep.layers", fmt::format("'{}' does not exist", spec.layers.back().string()));
    }
    if (const auto* n = t.get("nproc")) {
      if (!n->is_integer() || n->as_integer()->get() < 1) r.fail("sweep.nproc", "must be an integer >= 1");
      spec.nproc = static_cast<int>(n->as_integer()->get());
    }
  }
  if (spec.name.empty()) r.fail("sweep.name", "must not be empty");
  if (const auto* v = root.get("variants")) {
    if (!v->is_array_of_tables()) r.fail("variants", "must be an array of tables ([[variants]])");
    int i = 0;
    for (const auto& e : *v->as_array()) {
      const std::string where = fmt::format("variants[{}]", i++);
      const auto& t = *e.as_table();
      r.only_keys(t, where, {"name", "config", "set"});
      Variant var;
      var.name = r.string(t, where, "name");
      var.config = r.path(r.string(t, where, "config"));
      if (var.config.empty()) var.config = spec.config;
      if (var.config.empty()) r.fail(where + ".config", "missing (and no [sweep] config to fall back on)");
      var.sets = r.strings(t, where, "set");
      spec.variants.push_back(std::move(var));
    }
  }
  if (spec.variants.empty()) {
    if (spec.config.empty()) r.fail("sweep.config", "missing: a sweep needs [sweep] config or [[variants]]");
    spec.variants.push_back({"", spec.config, {}});
  }
  std::set<std::string> variant_names;
  for (const auto& var : spec.variants)
    if (!var.name.empty() && !variant_names.insert(var.name).second)
      r.fail("variants", fmt::format("variant '{}' is listed twice", var.name));
  if (const auto* a = root.get("axes")) {
    if (!a->is_array_of_tables()) r.fail("axes", "must be an array of tables ([[axes]])");
    int i = 0;
    for (const auto& e : *a->as_array()) {
      const std::string where = fmt::format("axes[{}]", i++);
      const auto& t = *e.as_table();
      r.only_keys(t, where, {"name", "keys", "scale", "values"});
      Axis axis;
      axis.keys = r.strings(t, where, "keys");
      if (axis.keys.empty()) r.fail(where + ".keys", "must name at least one config key");
      axis.name = r.string(t, where, "name", axis.keys.front());
      axis.values = r.numbers(t, where, "values");
      if (axis.values.empty()) r.fail(where + ".values", "must list at least one value");
      axis.scale = r.numbers(t, where, "scale");
      if (axis.scale.empty()) axis.scale.assign(axis.keys.size(), 1.0);
      if (axis.scale.size() != axis.keys.size())
        r.fail(where + ".scale", fmt::format("has {} entries for {} keys", axis.scale.size(), axis.keys.size()));
      spec.axes.push_back(std::move(axis));
    }
  }
  return spec;
}

std::string SweepRun::config_text() const {
  if (layers.empty()) return "";
  std::vector<std::string> files{toml_string(fs::absolute(config).lexically_normal().string())};
  for (const auto& l : layers) files.push_back(toml_string(fs::absolute(l).lexically_normal().string()));
  return fmt::format("# generated by dmgn sweep\nextends = [{}]\n", fmt::join(files, ", "));
}

Config load_run_config(const SweepRun& run) {
  if (run.layers.empty()) return Config::load(run.config, run.sets);
  return Config::from_string(run.config_text(), run.config.string(), run.sets, fs::path("/"));
}

std::vector<SweepRun> expand(const SweepSpec& spec, const std::vector<std::string>& extra_sets) {
  // Grid points: the cartesian product of the axes (the last axis varies fastest).
  std::vector<std::vector<size_t>> points{{}};
  for (const auto& axis : spec.axes) {
    std::vector<std::vector<size_t>> next;
    for (const auto& p : points)
      for (size_t i = 0; i < axis.values.size(); ++i) {
        auto q = p;
        q.push_back(i);
        next.push_back(std::move(q));
      }
    points = std::move(next);
  }
  std::vector<SweepRun> runs;
  std::map<std::string, std::string> label_of_hash;
  for (const auto& var : spec.variants) {
    if (!fs::exists(var.config))
      throw IoError(fmt::format("{}: config '{}' of variant '{}' does not exist", spec.file.string(),
                                var.config.string(), var.name));
    for (const auto& p : points) {
      SweepRun proto;
      proto.config = var.config;
      proto.layers = spec.layers;
      if (!spec.layers.empty()) {  // the generated file's stem must not become run.name
        try {
          proto.sets.push_back("run.name=" + toml_string(Config::load(var.config).get_string("run.name")));
        } catch (const ConfigError& e) {
          throw ConfigError(fmt::format("{}: variant '{}': {}", spec.file.string(), var.name, e.what()));
        }
      }
      proto.sets.insert(proto.sets.end(), spec.sets.begin(), spec.sets.end());
      proto.sets.insert(proto.sets.end(), var.sets.begin(), var.sets.end());
      std::vector<std::string> words;
      for (size_t a = 0; a < spec.axes.size(); ++a) {
        const auto& axis = spec.axes[a];
        const double v = axis.values[p[a]];
        proto.point[axis.name] = v;
        words.push_back(axis.name + "=" + number_text(v));
        for (size_t k = 0; k < axis.keys.size(); ++k)
          proto.sets.push_back(axis.keys[k] + "=" + number_text(v * axis.scale[k]));
      }
      std::vector<int64_t> seeds = spec.seeds;
      if (seeds.empty()) {
        try {
          seeds.push_back(load_run_config(proto).get_int("run.seed"));
        } catch (const ConfigError& e) {
          throw ConfigError(fmt::format("{}: variant '{}': {}", spec.file.string(), var.name, e.what()));
        }
      }
      for (int64_t seed : seeds) {
        SweepRun run = proto;
        run.index = static_cast<int>(runs.size()) + 1;
        run.seed = seed;
        run.sets.push_back(fmt::format("run.seed={}", seed));
        run.sets.push_back("run.sweep=" + toml_string(spec.name));
        if (!var.name.empty()) run.sets.push_back("run.variant=" + toml_string(var.name));
        std::string variant = var.name;
        if (!words.empty()) {
          variant = fmt::format("{}{}{}", var.name, var.name.empty() ? "" : " ", fmt::join(words, " "));
          run.sets.push_back("run.variant=" + toml_string(variant));
        }
        run.sets.insert(run.sets.end(), extra_sets.begin(), extra_sets.end());
        Config cfg = [&] {
          try {
            return load_run_config(run);
          } catch (const ConfigError& e) {
            throw ConfigError(fmt::format("{}: run {} ({}): {}", spec.file.string(), run.index,
                                          variant.empty() ? var.config.string() : variant, e.what()));
          }
        }();
        run.variant = cfg.get_string("run.variant");
        run.hash = cfg.hash();
        run.store = cfg.get_string("runtime.store");
        const auto [it, fresh] = label_of_hash.emplace(run.hash, run.label());
        if (!fresh)
          throw ConfigError(fmt::format("{}: runs '{}' and '{}' expand to the same config (hash {}); give the "
                                        "variants different names or settings",
                                        spec.file.string(), it->second, run.label(), run.hash.substr(0, 12)));
        runs.push_back(std::move(run));
      }
    }
  }
  return runs;
}

}  // namespace dmgn::sweep
