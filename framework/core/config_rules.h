#pragma once
// The valid values of config keys ([schema.rules] of each schema fragment, core/schema.h):
// numeric bounds, allowed strings, registered names. Config applies them whenever a config is resolved or
// overridden, so `config show`, `info` and `train` refuse `train.max_steps = -5` or an unknown
// cell name at load time, naming the key and where its value came from.
#include <toml++/toml.h>

#include <functional>
#include <string>
#include <vector>

namespace dmgn::config_rules {

// A rule, written as a string or an array of strings:
//   "<cond>, <cond>"   numeric bounds, each of ">= x", "> x", "<= x", "< x", or "odd";
//                      for an array, every element; "unbounded" states that a number has no
//                      upper bound on purpose (it counts steps, not memory or threads). A
//                      number that sizes a resource (threads, memory, files) has an upper
//                      bound, and its reason after a ";": "<= 64; each worker is a thread ..."
//                      (the reason is part of the message that refuses a value)
//   ["a", "b", ...]    one of these strings (for an array of strings, every element)
//   "registry:KIND"    a name registered in that registry (`dmgn list`); checked once the
//                      registries are filled (every dmgn command fills them first);
//                      "registry:KIND|a|b" also accepts a and b ("registry:task|": or "")
//   "dataset"          a registered dataset or a [datasets.NAME] table of this config
// A "*" key segment matches any name (the [datasets.NAME] tables).

// ConfigError for the first key of `resolved` that breaks its rule in `rules` (dotted key ->
// rule). `source_of` names where a key's value came from ("file:line:col", "--set", "defaults").
void check(const toml::table& resolved, const toml::table& rules,
           const std::function<std::string(const std::string&)>& source_of);

// Dotted keys (with "*" segments) that have a rule in some schema fragment; the schema test
// checks that every numeric key is among them.
std::vector<std::string> keys_with_rules();
// Whether the rule of `key` (as keys_with_rules names it) bounds it from above or says
// "unbounded"; the schema test requires one of them for every integer key.
bool states_upper_bound(const std::string& key);

// ConfigError naming `origin` when a rule of `rules` is malformed.
void parse_rules(const toml::table& rules, const std::string& origin);

}  // namespace dmgn::config_rules
