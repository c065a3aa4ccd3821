#pragma once
namespace dmgn::nn {
// Registers the built-in cells, blocks, heads, generators and discriminators. Idempotent.
void register_builtins();
}  // namespace dmgn::nn
