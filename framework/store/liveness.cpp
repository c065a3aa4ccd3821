#include "store/liveness.h"

#include "core/file_lock.h"

namespace dmgn::store {

std::filesystem::path run_lock_path(const std::string& run_dir) {
  return std::filesystem::path(run_dir) / kRunLockFile;
}

std::string live_status(const RunRow& run) {
  if (run.status != "running") return run.status;
  if (!run.run_dir.empty() && file_lock_held(run_lock_path(run.run_dir))) return "running";
  return "died";
}

}  // namespace dmgn::store
