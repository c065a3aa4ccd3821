#pragma once
// Whether a stored run's process is alive. The process that trains a run holds an exclusive
// lock on <run_dir>/run.lock for the run's whole life (core/file_lock.h; train/run_record.h
// takes it), which the operating system releases when the process ends, however it ends. So a
// row still 'running' whose lock nobody holds belongs to a process that died (kill -9, out of
// memory, power loss): it is shown as "died", never as running, and --resume continues it.
#include <filesystem>
#include <string>

#include "store/run_store.h"

namespace dmgn::store {

inline constexpr const char* kRunLockFile = "run.lock";

std::filesystem::path run_lock_path(const std::string& run_dir);
// The stored status, or "died" for a 'running' run whose lock is free (or that has no folder).
std::string live_status(const RunRow& run);

}  // namespace dmgn::store
