#include "train/builtins.h"

#include <mutex>

#include "data/builtins.h"
#include "losses/losses.h"
#include "metrics/spec.h"
#include "nn/builtins.h"
#include "systems/systems.h"
#include "train/critic_recipe.h"

namespace dmgn {

void register_builtins() {
  static std::once_flag once;
  std::call_once(once, [] {
    nn::register_builtins();
    losses::register_builtins();
    data::register_builtins();  // and the tasks, beside their syntheses
    metrics::register_builtins();
    train::register_supervised_recipe();  // shared by systems without a critic
    systems::register_systems();  // models, recipes, presets, tables, display names
  });
}

}  // namespace dmgn
