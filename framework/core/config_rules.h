#pragma once
// The valid values of config keys (framework/core/rules.toml, compiled in): numeric bounds,
// allowed strings, registered names. Config applies them whenever a config is resolved or
// overridden, so `config show`, `info` and `train` refuse `train.max_steps = -5` or an unknown
// cell name at load time, naming the key and where its value came from.
#include <toml++/toml.h>

#include <functional>
#include <string>
#include <vector>

namespace dmgn::config_rules {

// ConfigError for the first key of `resolved` that breaks its rule. `source_of` names where a
// key's value came from ("file:line:col", "--set", "defaults").
void check(const toml::table& resolved, const std::function<std::string(const std::string&)>& source_of);

// Dotted keys (with "*" segments) that have a rule; the schema test checks that every numeric
// key is among them.
std::vector<std::string> keys_with_rules();

}  // namespace dmgn::config_rules
