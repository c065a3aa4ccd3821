#include "train/run_record.h"

#include <fmt/format.h>

#include <fstream>
#include <sstream>

#include "core/compat.h"
#include "core/error.h"
#include "core/log.h"
#include "gitrev.h"
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

}  // namespace

RunPlan plan_run(store::RunStore& store, const Config& cfg, bool resume, const RunIdentity& id) {
  if (resume) {
    RunPlan p = find_resumable(store, cfg, id.world_size);
    if (p.run_id) return p;
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
  p.run_dir = fs::path(cfg.get_string("runtime.out_dir")) / fmt::format("{:05d}-{}", p.run_id, cfg.short_hash());
  std::error_code ec;
  fs::create_directories(p.run_dir / "checkpoints", ec);
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
  return p;
}

void mark_resumed(store::RunStore& store, const RunPlan& plan, int64_t step, int64_t total_steps) {
  store.reopen_run(plan.run_id);
  store.delete_metrics(plan.run_id, step + 1);
  if (step >= total_steps) store.delete_metrics(plan.run_id, step, {"val", "test"});
  store.set_provenance(plan.run_id, "resumed_at_step", std::to_string(step));
}

}  // namespace dmgn::train
