#include "train/builtins.h"

#include <mutex>

#include "data/builtins.h"
#include "losses/losses.h"
#include "models/builtins.h"
#include "nn/builtins.h"
#include "train/recipe.h"

namespace dmgn {

void register_builtins() {
  static std::once_flag once;
  std::call_once(once, [] {
    nn::register_builtins();
    models::register_builtins();
    losses::register_builtins();
    data::register_builtins();
    train::register_recipes();
  });
}

}  // namespace dmgn
