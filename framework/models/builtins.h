#pragma once
namespace dmgn::models {
// Registers the built-in models. Idempotent.
void register_builtins();
}  // namespace dmgn::models
