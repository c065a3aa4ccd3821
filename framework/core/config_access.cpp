// Config's typed access by dotted key (core/config.h): values, sub-tables, where a value came
// from.
#include <fmt/format.h>

#include "core/config.h"
#include "core/error.h"
#include "core/schema.h"

namespace dmgn {

std::string Config::full_key(std::string_view key) const {
  return prefix_.empty() ? std::string(key) : prefix_ + "." + std::string(key);
}

const toml::node& Config::node_at(std::string_view key) const {
  const std::string full = full_key(key);
  const toml::node* n = state_->root.at_path(full).node();
  if (!n) throw ConfigError(fmt::format("config key '{}' is missing", full));
  return *n;
}

bool Config::has(std::string_view key) const {
  return state_->root.at_path(full_key(key)).node() != nullptr;
}

namespace {
[[noreturn]] void wrong_type(const std::string& key, const toml::node& n, const char* want) {
  throw ConfigError(fmt::format("config key '{}' is {}, expected {}", key, schema::type_name(n.type()), want));
}
}  // namespace

int64_t Config::get_int(std::string_view key) const {
  const auto& n = node_at(key);
  if (const auto* v = n.as_integer()) return v->get();
  wrong_type(full_key(key), n, "an integer");
}

double Config::get_float(std::string_view key) const {
  const auto& n = node_at(key);
  if (const auto* v = n.as_floating_point()) return v->get();
  if (const auto* v = n.as_integer()) return static_cast<double>(v->get());
  wrong_type(full_key(key), n, "a float");
}

bool Config::get_bool(std::string_view key) const {
  const auto& n = node_at(key);
  if (const auto* v = n.as_boolean()) return v->get();
  wrong_type(full_key(key), n, "a boolean");
}

std::string Config::get_string(std::string_view key) const {
  const auto& n = node_at(key);
  if (const auto* v = n.as_string()) return v->get();
  wrong_type(full_key(key), n, "a string");
}

std::vector<int64_t> Config::get_ints(std::string_view key) const {
  const auto& n = node_at(key);
  const auto* a = n.as_array();
  if (!a) wrong_type(full_key(key), n, "an array of integers");
  std::vector<int64_t> out;
  for (const auto& e : *a) {
    if (!e.is_integer()) wrong_type(full_key(key), n, "an array of integers");
    out.push_back(e.as_integer()->get());
  }
  return out;
}

std::vector<double> Config::get_floats(std::string_view key) const {
  const auto& n = node_at(key);
  const auto* a = n.as_array();
  if (!a) wrong_type(full_key(key), n, "an array of floats");
  std::vector<double> out;
  for (const auto& e : *a) {
    if (const auto* f = e.as_floating_point()) out.push_back(f->get());
    else if (const auto* i = e.as_integer()) out.push_back(static_cast<double>(i->get()));
    else wrong_type(full_key(key), n, "an array of floats");
  }
  return out;
}

std::vector<std::string> Config::get_strings(std::string_view key) const {
  const auto& n = node_at(key);
  const auto* a = n.as_array();
  if (!a) wrong_type(full_key(key), n, "an array of strings");
  std::vector<std::string> out;
  for (const auto& e : *a) {
    if (!e.is_string()) wrong_type(full_key(key), n, "an array of strings");
    out.push_back(e.as_string()->get());
  }
  return out;
}

Config Config::sub(std::string_view prefix) const {
  Config c = *this;
  c.prefix_ = full_key(prefix);
  const toml::node* n = state_->root.at_path(c.prefix_).node();
  if (!n || !n->is_table()) throw ConfigError(fmt::format("config table '{}' is missing", c.prefix_));
  return c;
}

std::string Config::source_of(std::string_view key) const {
  const std::string full = full_key(key);
  auto it = state_->sources.find(full);
  return it == state_->sources.end() ? "defaults" : it->second;
}

}  // namespace dmgn
