#pragma once
namespace dmgn {
// Registers every built-in component of every folder (nn, models, losses, data). Call once at
// start-up (the CLI and the tests do); idempotent.
void register_builtins();
}  // namespace dmgn
