#pragma once
// What board/views_*.cpp share: one run's line (runs list, sweep grid) and the config diff.
#include <map>
#include <string>

#include "board/views.h"

namespace dmgn::board {

// id, status (live), experiment, sweep, variant, task, seed, hash, started/finished, step,
// total_steps, it_per_s, eta_s (running runs), val and test: the final scores per dataset.
json run_summary(const store::RunStore& store, const store::RunRow& run);

// A number, or null where it is NaN or infinite (JSON has neither).
json finite_or_null(double v);

// The flattened configs of runs, by run id, and per key the value most of them hold (ties: the
// smallest value in text order) with the keys whose value is not the same in all of them.
struct ConfigSpread {
  std::map<int64_t, std::map<std::string, std::string>> configs;
  std::map<std::string, std::string> common;
  std::map<std::string, bool> varies;
};
ConfigSpread config_spread(const std::vector<store::RunRow>& runs);

}  // namespace dmgn::board
