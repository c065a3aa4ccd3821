#include "core/config_rules.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <sstream>

#include "core/error.h"
#include "core/registry.h"
#include "core/schema.h"

namespace dmgn {
namespace config_rules {
namespace {

struct Bound {
  std::string op;  // >=, >, <=, <
  double value = 0;
};

struct Rule {
  std::vector<Bound> bounds;
  bool odd = false;
  std::vector<std::string> one_of;  // allowed strings
  std::string registry;             // registry kind
  std::vector<std::string> also;    // besides the registered names ("registry:KIND|a|b")
  bool dataset = false;
  bool unbounded = false;           // no upper bound, on purpose
  std::string reason;               // why the bounds are what they are (after ";")
  std::string text;                 // as written, for messages
};

Rule parse_rule(const std::string& key, const toml::node& n) {
  Rule r;
  if (const auto* arr = n.as_array()) {
    for (const auto& e : *arr) r.one_of.push_back(e.value_or(std::string()));
    return r;
  }
  const std::string s = n.value_or(std::string());
  r.text = s;
  if (s.rfind("registry:", 0) == 0) {
    std::stringstream in(s.substr(9));
    std::getline(in, r.registry, '|');
    for (std::string extra; std::getline(in, extra, '|');) r.also.push_back(extra);
    if (!s.empty() && s.back() == '|') r.also.emplace_back();  // a trailing '|': the empty string
    return r;
  }
  if (s == "dataset") {
    r.dataset = true;
    return r;
  }
  const auto semi = s.find(';');
  if (semi != std::string::npos) {
    const auto from = s.find_first_not_of(' ', semi + 1);
    if (from == std::string::npos) throw ConfigError(fmt::format("rule of '{}' has an empty reason after ';'", key));
    r.reason = s.substr(from);
  }
  std::stringstream in(s.substr(0, semi));
  for (std::string part; std::getline(in, part, ',');) {
    part.erase(0, part.find_first_not_of(' '));
    part.erase(part.find_last_not_of(' ') + 1);
    if (part == "odd") {
      r.odd = true;
      continue;
    }
    if (part == "unbounded") {
      r.unbounded = true;
      continue;
    }
    Bound b;
    for (const char* op : {">=", "<=", ">", "<"})
      if (part.rfind(op, 0) == 0) {
        b.op = op;
        break;
      }
    if (b.op.empty()) throw ConfigError(fmt::format("rule of '{}' has an unknown condition '{}'", key, part));
    b.value = std::stod(part.substr(b.op.size()));
    r.bounds.push_back(b);
  }
  return r;
}

std::vector<std::pair<std::string, Rule>> parsed(const toml::table& rules) {
  std::vector<std::pair<std::string, Rule>> out;
  for (auto&& [k, v] : rules) out.emplace_back(std::string(k.str()), parse_rule(std::string(k.str()), v));
  return out;
}

std::string number_text(double v) {
  return v == std::floor(v) && std::abs(v) < 1e15 ? fmt::format("{}", static_cast<int64_t>(v)) : fmt::format("{}", v);
}

bool satisfies(const Bound& b, double v) {
  if (b.op == ">=") return v >= b.value;
  if (b.op == ">") return v > b.value;
  if (b.op == "<=") return v <= b.value;
  return v < b.value;
}

// Registered names of a registry kind; empty when that registry has none yet (not filled in
// this process: the check is then left to the registry itself, at build time).
std::vector<std::string> registered(const std::string& kind) {
  std::vector<std::string> names;
  for (const auto& e : RegistryCatalog::instance().all())
    if (e.kind == kind) names.push_back(e.name);
  return names;
}

[[noreturn]] void fail(const std::string& key, const std::string& value, const std::string& why,
                       const std::function<std::string(const std::string&)>& source_of) {
  const std::string from = source_of(key);
  throw ConfigError(fmt::format("config key '{}' = {}: {}{}", key, value, why,
                                from.empty() || from == "defaults" ? "" : fmt::format(" (set in {})", from)));
}

void check_value(const std::string& key, const toml::node& v, const Rule& r, const toml::table& resolved,
                 const std::function<std::string(const std::string&)>& source_of) {
  if (v.is_array()) {
    for (const auto& e : *v.as_array()) check_value(key, e, r, resolved, source_of);
    return;
  }
  if (v.is_integer() || v.is_floating_point()) {
    const double x = v.is_integer() ? static_cast<double>(v.as_integer()->get()) : v.as_floating_point()->get();
    const std::string shown = v.is_integer() ? std::to_string(v.as_integer()->get()) : fmt::format("{}", x);
    if (!std::isfinite(x)) fail(key, shown, "must be a finite number", source_of);
    for (const auto& b : r.bounds)
      if (!satisfies(b, x))
        fail(key, shown,
             fmt::format("must be {} {}{}", b.op, number_text(b.value), r.reason.empty() ? "" : " (" + r.reason + ")"),
             source_of);
    if (r.odd && (!v.is_integer() || v.as_integer()->get() % 2 == 0)) fail(key, shown, "must be odd", source_of);
    return;
  }
  if (!v.is_string()) return;
  const std::string s = v.as_string()->get();
  const std::string shown = fmt::format("\"{}\"", s);
  if (!r.one_of.empty() && std::find(r.one_of.begin(), r.one_of.end(), s) == r.one_of.end()) {
    std::vector<std::string> quoted;
    for (const auto& o : r.one_of) quoted.push_back(o.empty() ? "\"\"" : o);
    fail(key, shown, fmt::format("is not one of {}", fmt::join(quoted, ", ")), source_of);
  }
  const auto check_registry = [&](const std::string& kind, const std::string& extra_hint) {
    const auto names = registered(kind);
    if (!names.empty() && std::find(names.begin(), names.end(), s) == names.end())
      fail(key, shown, fmt::format("no {} of that name is registered (known: {}){}", kind, fmt::join(names, ", "),
                                   extra_hint),
           source_of);
  };
  if (!r.registry.empty() && std::find(r.also.begin(), r.also.end(), s) == r.also.end()) {
    std::vector<std::string> quoted;
    for (const auto& o : r.also) quoted.push_back(o.empty() ? "\"\"" : o);
    check_registry(r.registry, quoted.empty() ? "" : fmt::format(", or {}", fmt::join(quoted, ", ")));
  }
  if (r.dataset) {
    const auto* tables = resolved.get("datasets");
    const bool declared = tables && tables->is_table() && tables->as_table()->get(s) != nullptr && s != "*";
    if (!declared) check_registry("dataset", "; or declare a [datasets." + s + "] table");
  }
}

// Every (dotted key, node) of `t` matching `pattern` ("*" matches one name).
void match(const toml::table& t, const std::vector<std::string>& parts, size_t i, const std::string& prefix,
           const std::function<void(const std::string&, const toml::node&)>& on) {
  const auto visit = [&](const std::string& name, const toml::node& n) {
    const std::string key = prefix.empty() ? name : prefix + "." + name;
    if (i + 1 == parts.size())
      on(key, n);
    else if (n.is_table())
      match(*n.as_table(), parts, i + 1, key, on);
  };
  if (parts[i] == "*") {
    for (auto&& [k, v] : t)
      if (k.str() != "*") visit(std::string(k.str()), v);
  } else if (const auto* n = t.get(parts[i])) {
    visit(parts[i], *n);
  }
}

std::vector<std::string> split_key(const std::string& key) {
  std::vector<std::string> parts;
  std::stringstream in(key);
  for (std::string p; std::getline(in, p, '.');) parts.push_back(p);
  return parts;
}

}  // namespace

void check(const toml::table& resolved, const toml::table& rules,
           const std::function<std::string(const std::string&)>& source_of) {
  for (const auto& entry : parsed(rules)) {
    const auto& rule = entry.second;
    match(resolved, split_key(entry.first), 0, "", [&](const std::string& key, const toml::node& v) {
      check_value(key, v, rule, resolved, source_of);
    });
  }
}

std::vector<std::string> keys_with_rules() {
  std::vector<std::string> out;
  for (const auto& f : schema::catalog()->fragments())
    for (auto&& [k, v] : f->rules) out.emplace_back(k.str());
  return out;
}

bool states_upper_bound(const std::string& key) {
  for (const auto& f : schema::catalog()->fragments())
    if (const auto* n = f->rules.get(key)) {
      const Rule r = parse_rule(key, *n);
      if (r.unbounded || !r.one_of.empty() || !r.registry.empty() || r.dataset) return true;
      for (const auto& b : r.bounds)
        if (b.op == "<=" || b.op == "<") return true;
      return false;
    }
  return false;
}

void parse_rules(const toml::table& rules, const std::string& origin) {
  try {
    parsed(rules);
  } catch (const std::exception& e) {
    throw ConfigError(fmt::format("schema {}: {}", origin, e.what()));
  }
}

}  // namespace config_rules
}  // namespace dmgn
