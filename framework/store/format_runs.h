#pragma once
// The `dmgn runs` listing: one aligned text line per run with id, status,
// experiment/variant, task, training steps, the last test PSNR/SSIM (and the test set they
// were measured on), the config hash (first 12 characters), start time and the other
// provenance flags as key=value. A missing value prints as "–".
#include <string>
#include <vector>

#include "store/run_store.h"

namespace dmgn::store {

std::string format_runs(const std::vector<RunRow>& runs, const RunStore& store);

}  // namespace dmgn::store
