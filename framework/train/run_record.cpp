#include "train/run_record.h"

#include <fmt/format.h>
#include <unistd.h>

#include <fstream>
#include <random>
#include <sstream>

#include "core/compat.h"
#include "core/error.h"
#include "core/log.h"
#include "gitrev.h"
#include "store/liveness.h"
#include "train/checkpoint.h"

namespace dmgn::train {
namespace fs = std::filesystem;

std::string RunPlan::encode() const {
  if (!error.empty()) return "error\n" + error;
  return fmt::format("plan\n{}\n{}\n{}", run_id, run_dir.string(), checkpoint.string());
}

RunPlan RunPlan::decode(const std::string& text) {
  RunPlan p;
  std::istringstream in(text);
  std::string kind, line;
  std::getline(in, kind);
  if (kind == "error") {
    std::getline(in, p.error);
    if (p.error.empty()) p.error = "rank 0 could not plan the run";
    return p;
  }
  if (kind != "plan") throw Error("internal: malformed run plan received from rank 0");
  std::getline(in, line);
  p.run_id = std::stoll(line);
  std::getline(in, line);
  p.run_dir = line;
  std::getline(in, line);
  p.checkpoint = line;
  return p;
}

namespace {

RunPlan find_resumable(store::RunStore& store, const Config& cfg, int world) {
  RunPlan plan;
  store::RunFilter f;
  f.config_hash = cfg.hash();
  for (const auto& r : store.runs(f)) {  // in id order: the most recent wins
    if (r.status == "completed" || r.run_dir.empty()) continue;
    const auto ckpt = latest_checkpoint(fs::path(r.run_dir) / "checkpoints");
    if (!ckpt) continue;
    const auto meta = read_checkpoint_meta(*ckpt);
    if (meta.world_size != world) {
      log::info(fmt::format("--resume: run {} was trained by {} rank(s), this launch has {}; not resuming it",
                            r.id, meta.world_size, world));
      continue;
    }
    plan.run_id = r.id;
    plan.run_dir = r.run_dir;
    plan.checkpoint = *ckpt;
  }
  return plan;
}

// "pid 123 on host since 2026-...", for whoever finds the run locked.
std::string lock_owner_text() {
  char host[256] = {0};
  ::gethostname(host, sizeof(host) - 1);
  return fmt::format("pid {} on {} since {}", ::getpid(), host, store::now_utc());
}

// The run's lock, or Error saying who holds it.
std::shared_ptr<FileLock> lock_run(int64_t run_id, const fs::path& run_dir) {
  const auto file = store::run_lock_path(run_dir.string());
  auto lock = FileLock::try_acquire(file);
  if (!lock) {
    const std::string who = file_lock_text(file);
    throw Error(fmt::format("run {} is being trained by another process{} (its lock {} is held): one process "
                            "trains a run at a time; wait for it, or stop it and resume",
                            run_id, who.empty() ? "" : " (" + who + ")", file.string()));
  }
  lock->describe(lock_owner_text());
  return std::make_shared<FileLock>(std::move(*lock));
}

// 8 random hex digits: run folders stay distinct across stores that share an out_dir.
std::string folder_token() {
  std::random_device rd;
  return fmt::format("{:08x}", static_cast<uint32_t>(rd()));
}

}  // namespace

fs::path runs_folder(const Config& cfg) {
  const std::string dir = cfg.get_string("runtime.out_dir");
  if (!dir.empty()) return dir;
  const fs::path parent = fs::path(cfg.get_string("runtime.store")).parent_path();
  return (parent.empty() ? fs::path(".") : parent) / "runs";
}

namespace {

// A new folder for run `id` under runs_folder (never an existing one).
fs::path create_run_folder(const Config& cfg, int64_t id) {
  const fs::path out_dir = runs_folder(cfg);
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) throw IoError(fmt::format("cannot create the runs folder '{}': {}", out_dir.string(), ec.message()));
  for (int attempt = 0; attempt < 8; ++attempt) {
    const fs::path dir = out_dir / fmt::format("{:05d}-{}-{}", id, cfg.short_hash(), folder_token());
    if (fs::create_directory(dir, ec)) return dir;
    if (ec) throw IoError(fmt::format("cannot create the run folder '{}': {}", dir.string(), ec.message()));
  }
  throw IoError(fmt::format("cannot find a new run folder name under '{}'", out_dir.string()));
}

}  // namespace

RunPlan plan_run(store::RunStore& store, const Config& cfg, bool resume, const RunIdentity& id) {
  if (resume) {
    RunPlan p = find_resumable(store, cfg, id.world_size);
    if (p.run_id) {
      p.lock = lock_run(p.run_id, p.run_dir);
      return p;
    }
    log::info("--resume: no unfinished run of this config and world size with a checkpoint; starting fresh");
  }
  store::RunInfo info;
  info.config_hash = cfg.hash();
  info.name = cfg.get_string("run.name");
  info.experiment = cfg.get_string("run.experiment");
  info.variant = cfg.get_string("run.variant");
  info.sweep = cfg.get_string("run.sweep");
  info.task = cfg.get_string("task.name");
  info.config_text = cfg.canonical();
  info.seed = cfg.get_int("run.seed");
  info.git_revision = DMGN_GIT_REVISION;
  info.torch_version = compat::torch_version();
  info.device = id.device;
  info.world_size = id.world_size;
  info.provenance = id.provenance;
  RunPlan p;
  p.run_id = store.begin_run(info);
  try {
    p.run_dir = create_run_folder(cfg, p.run_id);
    p.lock = lock_run(p.run_id, p.run_dir);
    std::error_code ec;
    fs::create_directory(p.run_dir / "checkpoints", ec);
    if (ec)
      throw IoError(fmt::format("cannot create the run folder '{}': {}", (p.run_dir / "checkpoints").string(),
                                ec.message()));
    {
      std::ofstream out(p.run_dir / "config.toml");
      out << cfg.canonical();
      if (!out) throw IoError(fmt::format("cannot write '{}'", (p.run_dir / "config.toml").string()));
    }
    // The run folder is recorded as an artifact and in the run row (for --resume).
    store.add_artifact(p.run_id, "run_dir", p.run_dir.string());
    store.set_run_dir(p.run_id, p.run_dir.string());
  } catch (...) {
    try {
      store.finish_run(p.run_id, "failed");  // never left 'running' by a run that could not start
    } catch (const std::exception& e) {
      log::warn(fmt::format("could not mark run {} failed: {}", p.run_id, e.what()));
    }
    throw;
  }
  return p;
}

void mark_resumed(store::RunStore& store, const RunPlan& plan, int64_t step, int64_t total_steps) {
  store.reopen_run(plan.run_id);
  store.delete_metrics(plan.run_id, step + 1);
  if (step >= total_steps) store.delete_metrics(plan.run_id, step, {"val", "test"});
  store.set_provenance(plan.run_id, "resumed_at_step", std::to_string(step));
}

}  // namespace dmgn::train
