#include "core/config.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include "core/config_rules.h"
#include "core/error.h"
#include "core/schema.h"

namespace dmgn {
namespace {

namespace fs = std::filesystem;
using Sources = std::map<std::string, std::string>;

std::string join_key(const std::string& parent, std::string_view key) {
  return parent.empty() ? std::string(key) : parent + "." + std::string(key);
}

std::string where(const toml::node& node, const std::string& origin) {
  const auto& src = node.source();
  if (src.begin.line == 0) return origin;
  return fmt::format("{}:{}:{}", origin, src.begin.line, src.begin.column);
}

toml::table parse_text(std::string_view text, const std::string& origin) {
  try {
    return toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    const auto& b = e.source().begin;
    throw ConfigError(fmt::format("{}:{}:{}: malformed TOML: {}", origin, b.line, b.column,
                                  e.description()));
  }
}

// A schema table with a "*" entry is open: any other key in it is a table validated against
// (and filled from) the "*" template, e.g. [datasets."*"] for user-defined datasets.
constexpr const char* kTemplateKey = "*";

using schema::fill_from_templates;
using schema::merge_into;
using schema::type_name;

// Every key any component defines: what a config may name at all.
const toml::table& known_keys() { return schema::catalog()->all_keys(); }

// Records where every leaf (and table) of `table` was set.
void record_sources(const toml::table& table, const std::string& parent, const std::string& origin,
                    Sources& sources) {
  for (const auto& [k, v] : table) {
    const std::string key = join_key(parent, k.str());
    const auto& kb = k.source().begin;
    sources[key] = kb.line ? fmt::format("{}:{}:{}", origin, kb.line, kb.column) : where(v, origin);
    if (const auto* sub = v.as_table()) record_sources(*sub, key, origin, sources);
  }
}

void collect_keys(const toml::table& table, const std::string& parent,
                  std::vector<std::string>& out) {
  for (const auto& [k, v] : table) {
    const std::string key = join_key(parent, k.str());
    out.push_back(key);
    if (const auto* sub = v.as_table()) collect_keys(*sub, key, out);
  }
}

std::string nearest_known(const std::string& key) {
  std::vector<std::string> known;
  collect_keys(known_keys(), "", known);
  // Whole dotted keys, so "model.refine.ndm.alpah" suggests "model.refine.ndm.alpha".
  return nearest_name(key, known);
}

std::string source_or(const Sources& sources, const std::string& key, const std::string& fallback) {
  auto it = sources.find(key);
  return it == sources.end() ? fallback : it->second;
}

// A value of schema type `want` may be given as `got` (ints promote to floats).
bool compatible(toml::node_type want, toml::node_type got) {
  if (want == got) return true;
  return want == toml::node_type::floating_point && got == toml::node_type::integer;
}

// Validates `user` against `spec` (the schema table at the same place) and promotes
// integers given for float keys, so the resolved table always has the schema's types.
void validate(toml::table& user, const toml::table& spec, const std::string& parent,
              const Sources& sources) {
  for (auto&& [k, v] : user) {
    const std::string key = join_key(parent, k.str());
    const std::string at = source_or(sources, key, "<unknown>");
    const toml::node* want = spec.get(k);
    if (!want && k.str() != kTemplateKey) want = spec.get(kTemplateKey);  // open table entry
    if (!want) {
      throw ConfigError(fmt::format("unknown config key '{}' (set at {}); did you mean '{}'?", key,
                                    at, nearest_known(key)));
    }
    if (want->is_table()) {
      if (!v.is_table())
        throw ConfigError(fmt::format("config key '{}' (set at {}) must be a table, got {}", key, at,
                                      type_name(v.type())));
      validate(*v.as_table(), *want->as_table(), key, sources);
      continue;
    }
    if (want->is_array()) {
      auto* arr = v.as_array();
      if (!arr)
        throw ConfigError(fmt::format("config key '{}' (set at {}) must be an array, got {}", key,
                                      at, type_name(v.type())));
      const auto& warr = *want->as_array();
      const toml::node_type elem =
          warr.empty() ? toml::node_type::string : warr.get(0)->type();
      for (size_t i = 0; i < arr->size(); ++i) {
        auto* e = arr->get(i);
        if (!compatible(elem, e->type()))
          throw ConfigError(fmt::format("config key '{}' (set at {}): element {} is {}, expected {}",
                                        key, at, i, type_name(e->type()), type_name(elem)));
        if (elem == toml::node_type::floating_point && e->is_integer()) {
          const double d = static_cast<double>(e->as_integer()->get());
          arr->replace(arr->cbegin() + static_cast<std::ptrdiff_t>(i), d);
        }
      }
      continue;
    }
    if (!compatible(want->type(), v.type()))
      throw ConfigError(fmt::format("config key '{}' (set at {}) must be {}, got {}", key, at,
                                    type_name(want->type()), type_name(v.type())));
    if (want->is_floating_point() && v.is_integer()) {
      const double d = static_cast<double>(v.as_integer()->get());
      user.insert_or_assign(k, d);
    }
  }
}

// The schema node for a dotted key, following open tables' templates; nullptr if unknown.
const toml::node* schema_node(const std::string& key) {
  const toml::node* cur = &static_cast<const toml::node&>(known_keys());
  size_t start = 0;
  while (cur) {
    const auto dot = key.find('.', start);
    const std::string part = key.substr(start, dot == std::string::npos ? dot : dot - start);
    const auto* table = cur->as_table();
    if (!table) return nullptr;
    const toml::node* next = table->get(part);
    if (!next) next = table->get(kTemplateKey);
    cur = next;
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return cur;
}

// Fills user entries of open tables from their template and drops the templates.
void instantiate_templates(toml::table& resolved, const toml::table& spec) {
  const toml::node* tmpl = spec.get(kTemplateKey);
  for (auto&& [k, v] : resolved) {
    auto* sub = v.as_table();
    if (!sub || k.str() == kTemplateKey) continue;
    if (const toml::node* own = spec.get(k)) {
      if (own->is_table()) instantiate_templates(*sub, *own->as_table());
    } else if (tmpl && tmpl->is_table()) {
      toml::table filled = *tmpl->as_table();
      merge_into(filled, *sub);
      *sub = std::move(filled);
    }
  }
  resolved.erase(kTemplateKey);
}

// Keys of `user` the schema does not know at all (a stored text from an older schema).
void drop_unknown(toml::table& user, const toml::table& spec) {
  std::vector<std::string> drop;
  for (auto&& [k, v] : user) {
    const toml::node* want = spec.get(k);
    if (!want && k.str() != kTemplateKey) want = spec.get(kTemplateKey);
    if (!want) drop.push_back(std::string(k.str()));
    else if (want->is_table() && v.is_table()) drop_unknown(*v.as_table(), *want->as_table());
  }
  for (const auto& k : drop) user.erase(k);
}

struct Loaded {
  toml::table table;
  Sources sources;
};

Loaded load_layers(const toml::table& own, const std::string& origin, const fs::path& base_dir,
                   std::vector<fs::path>& stack);

Loaded load_file(const fs::path& file, std::vector<fs::path>& stack) {
  std::error_code ec;
  fs::path canon = fs::weakly_canonical(file, ec);
  if (ec) canon = file;
  if (std::find(stack.begin(), stack.end(), canon) != stack.end())
    throw ConfigError(fmt::format("config {}: `extends` cycle through this file", file.string()));
  // A folder opens as an empty stream: say what it is instead of reading an empty config (which
  // would be the schema defaults: the full paper model).
  if (fs::is_directory(file, ec)) {
    std::vector<std::string> tomls;
    for (const auto& e : fs::directory_iterator(file, ec))
      if (e.path().extension() == ".toml") tomls.push_back(e.path().filename().string());
    std::sort(tomls.begin(), tomls.end());
    throw ConfigError(fmt::format("config '{}' is a folder, not a config file{}", file.string(),
                                  tomls.empty() ? std::string()
                                                : fmt::format(" (it holds {})", fmt::join(tomls, ", "))));
  }
  if (!fs::exists(file, ec)) throw ConfigError(fmt::format("config file '{}' does not exist", file.string()));
  if (!fs::is_regular_file(file, ec))
    throw ConfigError(fmt::format("config '{}' is not a regular file", file.string()));
  std::ifstream in(file);
  if (!in) throw ConfigError(fmt::format("config file '{}' cannot be read", file.string()));
  std::stringstream ss;
  ss << in.rdbuf();
  const toml::table own = parse_text(ss.str(), file.string());
  stack.push_back(canon);
  Loaded out = load_layers(own, file.string(), file.parent_path(), stack);
  stack.pop_back();
  return out;
}

// extends first (in order), then this layer's own keys on top.
Loaded load_layers(const toml::table& own_in, const std::string& origin, const fs::path& base_dir,
                   std::vector<fs::path>& stack) {
  toml::table own = own_in;
  Loaded out;
  if (const auto* ext = own.get("extends")) {
    std::vector<std::string> parents;
    if (const auto* s = ext->as_string()) {
      parents.push_back(s->get());
    } else if (const auto* arr = ext->as_array()) {
      for (const auto& e : *arr) {
        if (!e.is_string())
          throw ConfigError(fmt::format("{}: `extends` must list file names (strings)",
                                        where(*ext, origin)));
        parents.push_back(e.as_string()->get());
      }
    } else {
      throw ConfigError(fmt::format("{}: `extends` must be a string or an array of strings",
                                    where(*ext, origin)));
    }
    for (const auto& p : parents) {
      fs::path path = fs::path(p).is_absolute() ? fs::path(p) : base_dir / p;
      if (!fs::exists(path))
        throw ConfigError(fmt::format("{}: extended config '{}' not found (looked for {})",
                                      where(*ext, origin), p, path.string()));
      Loaded parent = load_file(path, stack);
      merge_into(out.table, parent.table);
      for (auto& [k, v] : parent.sources) out.sources[k] = v;
    }
    own.erase("extends");
  }
  record_sources(own_in, "", origin, out.sources);  // the parsed table keeps line:col
  out.sources.erase("extends");
  merge_into(out.table, own);
  return out;
}

// "a.b.c=value": value parsed as a TOML value; a bare word that does not parse (or a value
// given for a string key) is taken as a string.
void apply_override(toml::table& root, Sources& sources, const std::string& assignment) {
  const auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    throw ConfigError(fmt::format("--set '{}': expected key.path=value", assignment));
  const std::string key = assignment.substr(0, eq);
  const std::string value = assignment.substr(eq + 1);

  // Walk the schema to learn the expected type (unknown keys fail in validate()).
  const toml::node* want = schema_node(key);
  toml::table parsed;
  bool ok = true;
  try {
    parsed = toml::parse(std::string_view("v = " + value), std::string_view("--set"));
  } catch (const toml::parse_error&) {
    ok = false;
  }
  toml::table leaf_holder;
  if (!ok || (want && want->is_string() && !parsed.get("v")->is_string())) {
    leaf_holder.insert("v", value);
  } else {
    leaf_holder.insert("v", *parsed.get("v"));
  }

  // Create intermediate tables as needed.
  toml::table* cur = &root;
  std::string_view rest = key;
  std::string built;
  while (true) {
    const auto dot = rest.find('.');
    const std::string part(rest.substr(0, dot));
    if (part.empty()) throw ConfigError(fmt::format("--set '{}': empty key component", assignment));
    built = join_key(built, part);
    if (dot == std::string_view::npos) {
      cur->insert_or_assign(part, *leaf_holder.get("v"));
      sources[built] = "--set " + assignment;
      break;
    }
    auto* next = cur->get(part);
    if (!next) {
      cur->insert(part, toml::table{});
      next = cur->get(part);
      sources[built] = "--set " + assignment;
    }
    if (!next->is_table())
      throw ConfigError(fmt::format("--set '{}': '{}' is not a table", assignment, built));
    cur = next->as_table();
    rest = rest.substr(dot + 1);
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string nearest_name(std::string_view name, const std::vector<std::string>& known) {
  std::string best;
  size_t best_d = std::string::npos;
  for (const auto& k : known) {
    const size_t d = edit_distance(name, k);
    if (d < best_d) {
      best_d = d;
      best = k;
    }
  }
  return best;
}

namespace {

std::vector<fs::path>& dataset_file_list() {
  static std::vector<fs::path> files;
  return files;
}

// The datasets files as one layer, later files over earlier ones. A file holds [datasets.<name>]
// tables only; a relative root / train_root is taken from the file's folder (the file says where
// the data is wherever the command runs), "${VAR}" roots are left to expand at use.
Loaded datasets_layer() {
  Loaded out;
  for (const auto& file : dataset_file_list()) {
    std::vector<fs::path> stack;
    Loaded l = load_file(file, stack);
    for (auto&& [k, v] : l.table) {
      if (k.str() != "datasets" || !v.is_table())
        throw ConfigError(fmt::format("datasets file '{}': key '{}' is not a [datasets.<name>] table (a datasets "
                                      "file declares datasets only; put other keys in a config)",
                                      file.string(), k.str()));
      for (auto&& [name, entry] : *v.as_table()) {
        auto* t = entry.as_table();
        if (!t)
          throw ConfigError(fmt::format("datasets file '{}': 'datasets.{}' must be a table", file.string(), name.str()));
        for (const char* key : {"root", "train_root"})
          if (auto* r = t->get_as<std::string>(key)) {
            const std::string value = r->get();
            if (!value.empty() && value.rfind("${", 0) != 0 && fs::path(value).is_relative())
              r->get() = (fs::absolute(file).parent_path() / value).lexically_normal().string();
          }
      }
    }
    merge_into(out.table, l.table);
    for (auto& [k, v] : l.sources) out.sources[k] = v;
  }
  return out;
}

// `top` over `base` (tables merged, values of `top` win), with their sources.
Loaded layered(Loaded base, Loaded top) {
  merge_into(base.table, top.table);
  for (auto& [k, v] : top.sources) base.sources[k] = v;
  return base;
}

}  // namespace

void Config::set_dataset_files(std::vector<fs::path> files) { dataset_file_list() = std::move(files); }

const std::vector<fs::path>& Config::dataset_files() { return dataset_file_list(); }

Config Config::resolve(toml::table user, std::map<std::string, std::string> sources,
                       const std::vector<std::string>& overrides, std::string origin, bool lenient) {
  for (const auto& o : overrides) apply_override(user, sources, o);
  validate(user, known_keys(), "", sources);
  Config cfg;
  cfg.state_ = std::make_shared<State>();
  cfg.state_->user = std::move(user);
  cfg.state_->sources = std::move(sources);
  cfg.state_->origin = std::move(origin);
  cfg.state_->lenient = lenient;
  cfg.build_root();
  return cfg;
}

namespace {

// Keys of `user` that no selected fragment defines (`base`: their defaults, templates kept):
// a ConfigError naming the key, where it was set and the component it belongs to; dropped
// instead when `lenient`. Returns whether it dropped any.
bool keep_selected(toml::table& user, const toml::table& base, const std::string& parent, const Sources& sources,
                   bool lenient, const schema::Catalog& cat, const toml::table& resolved) {
  std::vector<std::string> drop;
  for (auto&& [k, v] : user) {
    const std::string key = join_key(parent, k.str());
    const toml::node* want = base.get(k);
    if (!want && k.str() != kTemplateKey) want = base.get(kTemplateKey);
    if (want) {
      if (want->is_table() && v.is_table())
        if (keep_selected(*v.as_table(), *want->as_table(), key, sources, lenient, cat, resolved))
          drop.push_back("");  // a marker: something below was dropped
      continue;
    }
    if (lenient) {
      drop.push_back(std::string(k.str()));
      continue;
    }
    // Name the first key set inside an unselected table (synth.haze.beta, not synth).
    std::string leaf = key;
    for (const toml::node* n = &v; n->is_table() && !n->as_table()->empty();) {
      const auto first = n->as_table()->begin();
      leaf += "." + std::string(first->first.str());
      n = &first->second;
    }
    throw ConfigError(fmt::format("config key '{}' (set at {}) {}", leaf, source_or(sources, leaf, "<unknown>"),
                                  cat.unselected(leaf, resolved)));
  }
  bool dropped = false;
  for (const auto& k : drop) {
    dropped = true;
    if (!k.empty()) user.erase(k);
  }
  return dropped;
}

}  // namespace

void Config::build_root() {
  const auto cat = schema::catalog();
  const schema::Selection sel = cat->select(state_->user);
  toml::table root = sel.defaults;
  merge_into(root, state_->user);
  if (keep_selected(state_->user, sel.defaults, "", state_->sources, state_->lenient, *cat, root)) {
    root = sel.defaults;  // lenient: without the dropped keys
    merge_into(root, state_->user);
  }
  instantiate_templates(root, sel.defaults);
  state_->root = std::move(root);
  state_->components = sel.labels();
  config_rules::check(state_->root, sel.rules, [this](const std::string& key) {
    const auto it = state_->sources.find(key);
    return it == state_->sources.end() ? std::string("defaults") : it->second;
  });
}

Config Config::load(const fs::path& file, const std::vector<std::string>& overrides) {
  std::vector<fs::path> stack;
  Loaded user = layered(datasets_layer(), load_file(file, stack));
  Config cfg = resolve(std::move(user.table), std::move(user.sources), overrides, file.string());
  // A run is named after its file unless the config says otherwise.
  if (cfg.get_string("run.name").empty()) {
    cfg.state_->root.at_path("run.name").as_string()->get() = file.stem().string();
    merge_into(cfg.state_->user, toml::table{{"run", toml::table{{"name", file.stem().string()}}}});
  }
  return cfg;
}

Config Config::from_string(std::string_view text, std::string_view origin,
                           const std::vector<std::string>& overrides, const fs::path& base_dir) {
  std::vector<fs::path> stack;
  const std::string o(origin);
  Loaded user = layered(datasets_layer(), load_layers(parse_text(text, o), o, base_dir, stack));
  return resolve(std::move(user.table), std::move(user.sources), overrides, o);
}

Config Config::defaults(const std::vector<std::string>& overrides) {
  Loaded base = datasets_layer();
  return resolve(std::move(base.table), std::move(base.sources), overrides, "");
}

Config Config::from_canonical(std::string_view text) {
  // A stored text holds every key the schema had when it was written, also of components the
  // config did not select then (before per-component schemas): those are dropped.
  const std::string origin = "<canonical>";
  std::vector<fs::path> stack;
  Loaded user = load_layers(parse_text(text, origin), origin, {}, stack);
  drop_unknown(user.table, known_keys());
  // The datasets files say where the data is now: over what the run stored.
  user = layered(std::move(user), datasets_layer());
  return resolve(std::move(user.table), std::move(user.sources), {}, origin, /*lenient=*/true);
}

namespace {

void leaf_keys(const toml::table& t, const std::string& parent, std::vector<std::string>& out) {
  for (auto&& [k, v] : t) {
    const std::string key = join_key(parent, k.str());
    if (const auto* sub = v.as_table()) leaf_keys(*sub, key, out);
    else out.push_back(key);
  }
}

}  // namespace

std::vector<std::string> Config::reselect(const std::vector<std::string>& assignments) {
  toml::table user;
  Sources sources;
  for (const auto& a : assignments) apply_override(user, sources, prefix_.empty() ? a : prefix_ + "." + a);
  std::vector<std::string> before, after, dropped;
  leaf_keys(state_->user, "", before);
  merge_layer(std::move(user), std::move(sources), /*drop_unselected=*/true);
  leaf_keys(state_->user, "", after);  // the assignments only add keys: what is gone was dropped
  for (const auto& k : before)
    if (std::find(after.begin(), after.end(), k) == after.end()) dropped.push_back(k);
  return dropped;
}

void Config::set(const std::string& assignment) {
  const std::string full = prefix_.empty() ? assignment : prefix_ + "." + assignment;
  toml::table user;
  Sources sources;
  apply_override(user, sources, full);
  merge_layer(std::move(user), std::move(sources));
}

void Config::overlay(const fs::path& file) {
  std::vector<fs::path> stack;
  Loaded user = load_file(file, stack);
  merge_layer(std::move(user.table), std::move(user.sources));
}

void Config::merge_layer(toml::table user, std::map<std::string, std::string> sources, bool drop_unselected) {
  validate(user, known_keys(), "", sources);
  // Copy-on-write: other Config values sharing this state keep theirs. The whole config is
  // resolved again: the layer may select other components (model.name, a loss, a synthesis).
  const auto previous = state_;
  auto fresh = std::make_shared<State>(*state_);
  merge_into(fresh->user, user);
  for (auto& [k, v] : sources) fresh->sources[k] = v;
  fresh->lenient = previous->lenient || drop_unselected;
  state_ = std::move(fresh);
  try {
    build_root();
  } catch (...) {
    state_ = previous;
    throw;
  }
  state_->lenient = previous->lenient;
}

}  // namespace dmgn
