// RunStore::gather (store/run_store.h): completed runs of another store file copied into this
// one, by identity, with a refusal on conflicting content.
#include <fmt/format.h>

#include <cmath>

#include "core/error.h"
#include "store/run_store.h"
#include "store/sqlite.h"

namespace dmgn::store {

namespace {

// One run with everything that hangs off it.
struct RunDump {
  RunRow row;
  std::vector<Metric> metrics;
  std::vector<Artifact> artifacts;
  std::vector<std::pair<Evaluation, std::vector<EvalImage>>> evaluations;
};

RunDump dump_run(const RunStore& s, const RunRow& row) {
  RunDump d;
  d.row = row;
  d.metrics = s.metrics(row.id);
  d.artifacts = s.artifacts(row.id);
  for (const auto& e : s.evaluations(row.id)) d.evaluations.emplace_back(e, s.eval_images(e.id));
  return d;
}

// A double as exact text ("nan" for NULL).
std::string exact(double v) { return std::isnan(v) ? "nan" : fmt::format("{:a}", v); }

// The content of a run as lines, ids left out: equal lines = the same run content.
std::vector<std::string> content_lines(const RunDump& d) {
  const RunRow& r = d.row;
  std::vector<std::string> out{
      fmt::format("config_hash {}", r.config_hash), fmt::format("name {}", r.name),
      fmt::format("experiment {}", r.experiment),   fmt::format("variant {}", r.variant),
      fmt::format("sweep {}", r.sweep),             fmt::format("task {}", r.task),
      fmt::format("status {}", r.status),           fmt::format("seed {}", r.seed),
      fmt::format("git_revision {}", r.git_revision), fmt::format("world_size {}", r.world_size),
      fmt::format("device {}", r.device),           fmt::format("torch_version {}", r.torch_version),
      fmt::format("started_at {}", r.started_at),   fmt::format("finished_at {}", r.finished_at),
      fmt::format("config_text {}", r.config_text), fmt::format("run_dir {}", r.run_dir)};
  for (const auto& [k, v] : r.provenance) out.push_back(fmt::format("provenance {}={}", k, v));
  for (const auto& m : d.metrics)
    out.push_back(fmt::format("metric step {} {} {} {} = {} ({})", m.step, m.split, m.dataset, m.name, exact(m.value),
                              m.preset));
  for (const auto& a : d.artifacts) out.push_back(fmt::format("artifact {} {}", a.kind, a.path));
  for (const auto& [e, images] : d.evaluations) {
    out.push_back(fmt::format("evaluation {} step {} {} {} {} {} samples {} skipped {} = {} {} {} {} [{}] {} {}",
                              e.checkpoint, e.step, e.config_hash, e.dataset, e.split, e.preset, e.samples,
                              e.skipped, exact(e.psnr), exact(e.ssim), exact(e.psnr_input), exact(e.ssim_input),
                              e.provenance, e.created_at, e.origin));
    for (const auto& i : images)
      out.push_back(fmt::format("  image {} = {} {} {} {} {}", i.image, exact(i.psnr), exact(i.ssim),
                                exact(i.psnr_input), exact(i.ssim_input), i.output));
  }
  return out;
}

// The first line where two runs' contents differ, for the refusal ("" when they agree).
std::string first_difference(const RunDump& a, const RunDump& b) {
  const auto la = content_lines(a), lb = content_lines(b);
  for (size_t i = 0; i < std::max(la.size(), lb.size()); ++i) {
    const std::string x = i < la.size() ? la[i] : "(nothing)", y = i < lb.size() ? lb[i] : "(nothing)";
    if (x != y) {
      const auto cut = [](const std::string& s) { return s.size() > 160 ? s.substr(0, 157) + "..." : s; };
      return fmt::format("'{}' here, '{}' there", cut(x), cut(y));
    }
  }
  return "";
}

}  // namespace

GatherResult RunStore::gather(const std::filesystem::path& source) {
  GatherResult result;
  result.source = source;
  std::error_code ec;
  if (std::filesystem::equivalent(source, file_, ec))
    throw StoreError(fmt::format("store {}: cannot gather a store into itself", file_.string()));
  const RunStore src(source, Access::read_only);
  // This store's runs by identity (config hash, run folder).
  std::map<std::pair<std::string, std::string>, int64_t> here;
  for (const auto& r : runs())
    if (!r.run_dir.empty()) here[{r.config_hash, r.run_dir}] = r.id;
  for (const auto& row : src.runs()) {
    if (row.status != "completed" || row.run_dir.empty()) {
      ++result.unfinished;
      continue;
    }
    const RunDump theirs = dump_run(src, row);
    if (const auto it = here.find({row.config_hash, row.run_dir}); it != here.end()) {
      const RunDump ours = dump_run(*this, *run(it->second));
      const std::string diff = first_difference(ours, theirs);
      if (!diff.empty())
        throw StoreError(fmt::format(
            "store {}: run {} (config {}, folder {}) has other content than run {} of {} with the same identity: "
            "{}; not gathered",
            file_.string(), it->second, row.config_hash.substr(0, 12), row.run_dir, row.id, source.string(), diff));
      ++result.already;
      continue;
    }
    int64_t id = 0;
    db_->write([&] {
      sqlite::Stmt ins(*db_,
                       "INSERT INTO runs(config_hash, name, experiment, variant, sweep, task, status, seed, "
                       "git_revision, world_size, device, torch_version, started_at, finished_at, config_text, "
                       "run_dir) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
      ins.bind(1, row.config_hash).bind(2, row.name).bind(3, row.experiment).bind(4, row.variant);
      ins.bind(5, row.sweep).bind(6, row.task).bind(7, row.status).bind(8, row.seed).bind(9, row.git_revision);
      ins.bind(10, static_cast<int64_t>(row.world_size)).bind(11, row.device).bind(12, row.torch_version);
      ins.bind(13, row.started_at).bind(14, row.finished_at).bind(15, row.config_text).bind(16, row.run_dir);
      ins.run();
      id = db_->last_insert_id();
      sqlite::Stmt prov(*db_, "INSERT INTO provenance(run_id, key, value) VALUES (?, ?, ?)");
      for (const auto& [k, v] : row.provenance) {
        prov.reset();
        prov.bind(1, id).bind(2, k).bind(3, v).run();
      }
      sqlite::Stmt met(*db_,
                       "INSERT INTO metrics(run_id, step, split, dataset, name, value, preset) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?)");
      for (const auto& m : theirs.metrics) {
        met.reset();
        met.bind(1, id).bind(2, m.step).bind(3, m.split).bind(4, m.dataset).bind(5, m.name).bind(6, m.value);
        met.bind(7, m.preset).run();
      }
      sqlite::Stmt art(*db_, "INSERT INTO artifacts(run_id, kind, path) VALUES (?, ?, ?)");
      for (const auto& a : theirs.artifacts) {
        art.reset();
        art.bind(1, id).bind(2, a.kind).bind(3, a.path).run();
      }
      for (const auto& [e, images] : theirs.evaluations) {
        sqlite::Stmt ev(*db_,
                        "INSERT INTO evaluations(run_id, checkpoint, step, config_hash, dataset, split, preset, "
                        "samples, skipped, psnr, ssim, psnr_input, ssim_input, provenance, created_at, origin) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
        ev.bind(1, id).bind(2, e.checkpoint).bind(3, e.step).bind(4, e.config_hash).bind(5, e.dataset);
        ev.bind(6, e.split).bind(7, e.preset).bind(8, e.samples).bind(9, e.skipped).bind(10, e.psnr);
        ev.bind(11, e.ssim).bind(12, e.psnr_input).bind(13, e.ssim_input).bind(14, e.provenance);
        ev.bind(15, e.created_at).bind(16, e.origin).run();
        const int64_t eid = db_->last_insert_id();
        sqlite::Stmt img(*db_,
                         "INSERT INTO eval_images(evaluation_id, image, psnr, ssim, psnr_input, ssim_input, output) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?)");
        for (const auto& i : images) {
          img.reset();
          img.bind(1, eid).bind(2, i.image).bind(3, i.psnr).bind(4, i.ssim).bind(5, i.psnr_input);
          img.bind(6, i.ssim_input).bind(7, i.output).run();
        }
      }
    });
    here[{row.config_hash, row.run_dir}] = id;
    result.gathered.push_back(id);
  }
  return result;
}

}  // namespace dmgn::store
