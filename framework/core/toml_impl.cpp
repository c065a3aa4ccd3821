// TOML++'s implementation, compiled once into dmgn_lib (every other file includes the
// declarations only: TOML_HEADER_ONLY=0, set by framework/CMakeLists.txt).
#define TOML_IMPLEMENTATION
#include <toml++/toml.h>
