#include "core/log.h"

#include <atomic>
#include <cstdio>
#include <sstream>

namespace dmgn::log {
namespace {
std::atomic<int> g_level{static_cast<int>(Level::info)};
}

void set_level(Level l) { g_level = static_cast<int>(l); }
Level level() { return static_cast<Level>(g_level.load()); }

void info(const std::string& msg) {
  if (g_level >= static_cast<int>(Level::info)) std::fprintf(stderr, "[dmgn] %s\n", msg.c_str());
}
void warn(const std::string& msg) { std::fprintf(stderr, "[dmgn] warning: %s\n", msg.c_str()); }
void debug(const std::string& msg) {
  if (g_level >= static_cast<int>(Level::debug)) std::fprintf(stderr, "[dmgn] debug: %s\n", msg.c_str());
}
void loud(const std::string& msg) {
  const std::string bar(78, '!');
  std::fprintf(stderr, "%s\n", bar.c_str());
  std::istringstream in(msg);
  for (std::string line; std::getline(in, line);) std::fprintf(stderr, "!! %s\n", line.c_str());
  std::fprintf(stderr, "%s\n", bar.c_str());
}

}  // namespace dmgn::log
