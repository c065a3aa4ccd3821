#pragma once
// "Did you mean" suggestions: the known name nearest to one that is not known, by edit
// distance (core/config.h edit_distance). Unknown config keys use it (config.cpp), and so do
// names a config gives as values (a loss term's output or target, losses/terms.h).
#include <string>
#include <string_view>
#include <vector>

namespace dmgn {

// The entry of `known` nearest to `name` (the first of equally near ones); "" when `known` is
// empty.
std::string nearest_name(std::string_view name, const std::vector<std::string>& known);

}  // namespace dmgn
