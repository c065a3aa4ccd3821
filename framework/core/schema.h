#pragma once
// The config schema, one fragment per component. Each fragment is a TOML file next to the
// component it configures (framework/<module>/<name>.schema.toml, compiled in by CMake; tests
// and plugins may add more with schema::add). A fragment holds:
//   [schema]                 what owns it and when it applies:
//     kind = "model"         core | model | recipe | loss | synth | dataset | ... ("core":
//                            always part of a config)
//     name = "dmgn"          the component's registered name
//     selected_by = ["model.name"]   keys ("*" segments allowed) whose value, a string or an
//                            array of strings, names the component when a config uses it
//   [schema.rules]           valid values, "dotted.key" = rule (core/config_rules.h)
//   ...                      the component's keys with their defaults; the comment after a key
//                            (and comment lines aligned under it) is the reason for its default
// A config holds the core fragments plus the fragments its own values select (a fixed point:
// the DMGN model selects its loss terms, which select the perceptual loss's table). A key of a
// fragment the config does not select is refused, naming the component and its selector.
// The config hash covers exactly these tables plus kVersion, so a new component's keys leave
// every existing config's hash unchanged.
#include <toml++/toml.h>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace dmgn::schema {

// Bump when the meaning of existing keys changes (it enters every config hash).
constexpr int kVersion = 2;

struct Fragment {
  std::string origin;                    // file it came from, e.g. "systems/dmgn/dmgn.schema.toml"
  std::string kind, name;                // the owning component
  std::vector<std::string> selected_by;  // dotted keys, "*" segments allowed
  toml::table table;                     // keys and defaults (without [schema])
  toml::table rules;                     // dotted key -> rule
  std::map<std::string, std::string> reasons;  // dotted key -> why this default
  bool core() const { return kind == "core"; }
  std::string label() const { return kind + " '" + name + "'"; }
  // True when `resolved` selects this fragment (always for core).
  bool selected(const toml::table& resolved) const;
};

// What a config selects: the core fragments plus those its values name (a fixed point).
struct Selection {
  std::vector<const Fragment*> fragments;  // in catalog order
  toml::table defaults;                    // their keys merged, "*" templates kept
  toml::table rules;                       // their rules merged
  std::vector<std::string> labels() const;
};

// Every fragment known to this process: the compiled-in ones, then those added with add().
class Catalog {
 public:
  const std::vector<std::shared_ptr<const Fragment>>& fragments() const { return fragments_; }
  // Every fragment's keys merged (first fragment wins a key two define): what a config may
  // name at all; open tables' entries filled from their "*" template.
  const toml::table& all_keys() const { return all_keys_; }
  // Fragments defining `dotted` (following "*" templates), in catalog order.
  std::vector<const Fragment*> owners(const std::string& dotted) const;
  // What the schema says about a dotted key of a config that selects `labels` (Fragment::label):
  // its owner, the reason for its default and its rule ("" where none; a "*" pattern matches an
  // open table's entries).
  struct KeyDoc {
    std::string owner, reason, rule;
  };
  KeyDoc describe(const std::string& dotted, const std::vector<std::string>& labels) const;
  // The fragments that `user` (a config's own keys over nothing) selects; ConfigError when two
  // selected fragments give one key different defaults.
  Selection select(const toml::table& user) const;
  // Why `dotted` (a known key) is not part of a config whose root is `resolved`: "belongs to
  // model 'x', which this config does not select (model.name = \"dmgn\")".
  std::string unselected(const std::string& dotted, const toml::table& resolved) const;

 private:
  friend std::shared_ptr<const Catalog> catalog();
  friend void add(std::string_view text, const std::string& origin);
  void insert(std::shared_ptr<const Fragment> f);
  std::vector<std::shared_ptr<const Fragment>> fragments_;
  toml::table all_keys_;
};

// The current catalog (a snapshot: add() makes a new one).
std::shared_ptr<const Catalog> catalog();

// Parses a fragment and adds it to the catalog (at start-up or in tests: a Config being resolved
// on another thread at the same time may still see the previous catalog); ConfigError naming `origin` when it is
// malformed, has no [schema] kind / name, or gives a key another fragment has a different type.
void add(std::string_view text, const std::string& origin);

// Parses one fragment's text (no catalog change).
std::shared_ptr<Fragment> parse(std::string_view text, const std::string& origin);

// Deep merge: tables merge recursively, everything else is replaced (later wins).
void merge_into(toml::table& dst, const toml::table& src);
// "a table", "an array", "a string", "an integer", "a float", "a boolean", "a date/time".
std::string type_name(toml::node_type t);
// The entries of every open table below `t` filled from its "*" template (templates kept).
void fill_from_templates(toml::table& t);

// The comment reasons of a TOML text: "table.key" -> the comment after the key and the comment
// lines aligned under it; "table" -> the comment after a [table] header.
std::map<std::string, std::string> comment_reasons(std::string_view text);

}  // namespace dmgn::schema
