#pragma once
// Typed options, parsed once: a component binds each member of its options struct to the key of
// its table that sets it, and reads them all in one call, e.g.
//   read_options(cfg.sub("datasets." + name), {{"adapter", &b.adapter}, {"only", &b.only}});
// Keys are relative to the Config's prefix and may be dotted ("train.epochs"). The value must
// have the member's type (the schema guarantees it for a resolved config); a missing key or
// another type is a ConfigError naming the full key.
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "core/config.h"

namespace dmgn {

using OptionRef = std::variant<std::string*, std::filesystem::path*, int64_t*, double*, bool*,
                               std::vector<std::string>*, std::vector<int64_t>*, std::vector<double>*>;

void read_options(const Config& table, std::initializer_list<std::pair<const char*, OptionRef>> fields);

}  // namespace dmgn
