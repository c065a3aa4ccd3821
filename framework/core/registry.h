#pragma once
// Named factories for every swappable part (DESIGN.md "The registry").
// Registration is explicit: each folder has a register_builtins() called once from
// dmgn::register_builtins() (train/builtins.h); nothing relies on static initialisers.
// Asking for an unknown name throws RegistryError listing the known names.
#include <fmt/format.h>
#include <fmt/ranges.h>  // fmt::join (its home since fmt 11)

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/error.h"

namespace dmgn {

struct RegistryEntryInfo {
  std::string kind;
  std::string name;
  std::string description;
};

// Every registry announces itself here so `dmgn list` can print all of them.
class RegistryCatalog {
 public:
  static RegistryCatalog& instance();
  void add_kind(const std::string& kind, std::function<std::vector<RegistryEntryInfo>()> lister);
  std::vector<RegistryEntryInfo> all() const;
  std::vector<std::string> kinds() const;

 private:
  std::vector<std::pair<std::string, std::function<std::vector<RegistryEntryInfo>()>>> kinds_;
};

template <class Product, class... Args>
class Registry {
 public:
  using Factory = std::function<Product(Args...)>;

  explicit Registry(std::string kind) : kind_(std::move(kind)) {
    RegistryCatalog::instance().add_kind(kind_, [this] { return list(); });
  }

  // Re-registering a name replaces it (lets tests swap in doubles); names are unique.
  void add(const std::string& name, const std::string& description, Factory factory) {
    if (!entries_.count(name)) order_.push_back(name);
    entries_[name] = Entry{description, std::move(factory)};
  }

  bool contains(const std::string& name) const { return entries_.count(name) > 0; }

  Product make(const std::string& name, Args... args) const {
    auto it = entries_.find(name);
    if (it == entries_.end()) throw RegistryError(unknown_message(name));
    return it->second.factory(std::forward<Args>(args)...);
  }

  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& [n, e] : entries_) out.push_back(n);
    return out;
  }

  // The names in the order they were first registered (a table's row order).
  const std::vector<std::string>& names_in_order() const { return order_; }

  const std::string& description(const std::string& name) const {
    auto it = entries_.find(name);
    if (it == entries_.end()) throw RegistryError(unknown_message(name));
    return it->second.description;
  }

  std::vector<RegistryEntryInfo> list() const {
    std::vector<RegistryEntryInfo> out;
    for (const auto& [n, e] : entries_) out.push_back({kind_, n, e.description});
    return out;
  }

  const std::string& kind() const { return kind_; }

  std::string unknown_message(const std::string& name) const {
    return fmt::format("unknown {} '{}'; known {}s: {}", kind_, name, kind_,
                       names().empty() ? std::string("(none registered)")
                                       : fmt::format("{}", fmt::join(names(), ", ")));
  }

 private:
  struct Entry {
    std::string description;
    Factory factory;
  };
  std::string kind_;
  std::map<std::string, Entry> entries_;
  std::vector<std::string> order_;
};

}  // namespace dmgn
