#pragma once
namespace dmgn::data {
// Registers the built-in syntheses ("synth": reflection_zhang2018, reflection_errnet) and
// datasets ("dataset": builtin). Idempotent.
void register_builtins();
}  // namespace dmgn::data
