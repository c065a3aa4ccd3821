#include "core/config.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/schema.h"

// Config's canonical serialisation (sorted keys, fixed number formatting) and its hash: the
// run's identity (core/config.h).
namespace dmgn {
namespace {

std::string join_key(const std::string& parent, std::string_view key) {
  return parent.empty() ? std::string(key) : parent + "." + std::string(key);
}

void write_string(std::ostream& os, const std::string& s) {
  os << '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"': os << "\\\""; break;
      case '\\': os << "\\\\"; break;
      case '\n': os << "\\n"; break;
      case '\t': os << "\\t"; break;
      case '\r': os << "\\r"; break;
      default:
        if (c < 0x20) os << fmt::format("\\u{:04x}", c);
        else os << c;
    }
  }
  os << '"';
}

void write_value(std::ostream& os, const toml::node& v) {
  if (const auto* s = v.as_string()) {
    write_string(os, s->get());
  } else if (const auto* i = v.as_integer()) {
    os << i->get();
  } else if (const auto* f = v.as_floating_point()) {
    const double d = f->get();
    if (std::isnan(d)) {
      os << "nan";
    } else if (std::isinf(d)) {
      os << (d > 0 ? "inf" : "-inf");
    } else {
      std::string t = fmt::format("{}", d);  // shortest round-trip
      if (t.find_first_of(".eE") == std::string::npos) t += ".0";
      os << t;
    }
  } else if (const auto* b = v.as_boolean()) {
    os << (b->get() ? "true" : "false");
  } else if (const auto* a = v.as_array()) {
    os << '[';
    for (size_t i = 0; i < a->size(); ++i) {
      if (i) os << ", ";
      write_value(os, *a->get(i));
    }
    os << ']';
  } else {
    throw ConfigError("config holds a value type the canonical form does not support");
  }
}

void write_table(std::ostream& os, const toml::table& t, const std::string& path,
                 const std::set<std::string>& skip) {
  std::vector<std::string> keys;
  for (const auto& [k, v] : t) keys.emplace_back(k.str());
  std::sort(keys.begin(), keys.end());
  bool header_written = path.empty();
  for (const auto& k : keys) {
    const auto* v = t.get(k);
    if (v->is_table()) continue;
    if (!header_written) {
      os << "\n[" << path << "]\n";
      header_written = true;
    }
    os << k << " = ";
    write_value(os, *v);
    os << '\n';
  }
  for (const auto& k : keys) {
    const auto* v = t.get(k);
    if (!v->is_table()) continue;
    const std::string sub = join_key(path, k);
    if (skip.count(sub)) continue;
    write_table(os, *v->as_table(), sub, skip);
  }
}

}  // namespace

std::string Config::canonical() const {
  std::ostringstream os;
  write_table(os, state_->root, "", {});
  std::string s = os.str();
  if (!s.empty() && s.front() == '\n') s.erase(0, 1);
  return s;
}

std::string Config::hash() const {
  std::ostringstream os;
  // Only the tables of the components this config selects are in its root (core/schema.h), so
  // a new component's keys leave the hash unchanged; the version marks changed meanings.
  os << "schema " << schema::kVersion << '\n';
  write_table(os, state_->root, "", {"runtime", "datasets"});
  // Of [datasets], only the entries the run reads, without where they live on disk: moving a
  // benchmark to another folder keeps a run's identity; changing its adapter does not.
  std::set<std::string> used;
  const auto* data = state_->root.get_as<toml::table>("data");
  if (data) {
    for (const char* k : {"train", "val"})
      if (const auto* v = data->get_as<std::string>(k)) used.insert(v->get());
    if (const auto* tests = data->get_as<toml::array>("test"))
      for (const auto& t : *tests)
        if (const auto* v = t.as_string()) used.insert(v->get());
  }
  if (const auto* sets = state_->root.get_as<toml::table>("datasets"))
    for (const auto& name : used)
      if (const auto* entry = sets->get_as<toml::table>(name)) {
        toml::table copy = *entry;
        copy.erase("root");
        copy.erase("train_root");
        write_table(os, copy, "datasets." + name, {});
      }
  return sha256_hex(os.str());
}

}  // namespace dmgn
