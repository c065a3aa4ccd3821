#pragma once
// Minimal logging to stderr: info/warn lines with a prefix, and a loud banner for
// conditions that invalidate results (e.g. random VGG weights).
#include <fmt/format.h>

#include <string>

namespace dmgn::log {

enum class Level { quiet = 0, info = 1, debug = 2 };
void set_level(Level level);
Level level();

void info(const std::string& msg);
void warn(const std::string& msg);
void debug(const std::string& msg);
// A boxed multi-line warning that is hard to miss in a log.
void loud(const std::string& msg);

}  // namespace dmgn::log
