#include "store/run_store.h"

#include <fmt/format.h>

#include <chrono>
#include <ctime>
#include <set>
#include <system_error>

#include "core/error.h"
#include "store/schema.h"
#include "store/sqlite.h"

namespace dmgn::store {

namespace {

constexpr int kBusyTimeoutMs = 30'000;

const std::set<std::string> kStatuses = {"running", "completed", "failed", "interrupted"};
const std::set<std::string> kSplits = {"train", "val", "test"};

constexpr const char* kRunColumns =
    "id, config_hash, name, experiment, variant, sweep, task, status, seed, git_revision, "
    "world_size, device, torch_version, started_at, finished_at, config_text, run_dir";

constexpr const char* kMetricColumns = "run_id, step, split, dataset, name, value, preset";

Metric read_metric(const sqlite::Stmt& q) {
  return Metric{q.i64(0), q.i64(1), q.text(2), q.text(3), q.text(4), q.real(5), q.text(6)};
}

RunRow read_run(const sqlite::Stmt& q) {
  RunRow r;
  r.id = q.i64(0);
  r.config_hash = q.text(1);
  r.name = q.text(2);
  r.experiment = q.text(3);
  r.variant = q.text(4);
  r.sweep = q.text(5);
  r.task = q.text(6);
  r.status = q.text(7);
  r.seed = q.i64(8);
  r.git_revision = q.text(9);
  r.world_size = static_cast<int>(q.i64(10));
  r.device = q.text(11);
  r.torch_version = q.text(12);
  r.started_at = q.text(13);
  r.finished_at = q.text(14);
  r.config_text = q.text(15);
  r.run_dir = q.text(16);
  return r;
}

void check_split(const std::filesystem::path& file, const Metric& m) {
  if (!kSplits.count(m.split))
    throw StoreError(
        fmt::format("store {}: metric '{}' of run {} has split '{}' (expected train, val or test)",
                    file.string(), m.name, m.run_id, m.split));
  if (m.name.empty())
    throw StoreError(
        fmt::format("store {}: metric of run {} has an empty name", file.string(), m.run_id));
}

// Runs fn; a non-contention failure is rethrown with `context` (which run, which key).
template <class F>
void with_context(const std::string& context, F&& fn) {
  try {
    fn();
  } catch (const sqlite::Busy&) {
    throw;  // retried by the caller's transaction loop
  } catch (const StoreError& e) {
    throw StoreError(fmt::format("{} [{}]", e.what(), context));
  }
}

void insert_metric(sqlite::Stmt& ins, const Metric& m) {
  with_context(fmt::format("metric '{}' of run {}", m.name, m.run_id), [&] {
    ins.reset();
    ins.bind(1, m.run_id).bind(2, m.step).bind(3, m.split).bind(4, m.dataset).bind(5, m.name);
    ins.bind(6, m.value).bind(7, m.preset);
    ins.run();
  });
}

constexpr const char* kInsertMetric =
    "INSERT INTO metrics(run_id, step, split, dataset, name, value, preset) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)";

}  // namespace

std::string now_utc() {
  const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

RunStore::RunStore(const std::filesystem::path& file, Access access) : file_(file) {
  if (access == Access::read_only) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(file, ec))
      throw IoError(fmt::format("store {}: no such file", file.string()));
    // Falls back where a WAL store's -shm cannot be made (read-only mount, full device).
    db_ = std::make_unique<sqlite::Db>(sqlite::Db::read_only(file, kBusyTimeoutMs));
    const int version = read_schema_version(*db_);
    if (version > kSchemaVersion)
      throw StoreError(fmt::format("store {}: schema version {} is newer than this build of dmgn supports ({}); "
                                   "use a newer dmgn",
                                   file.string(), version, kSchemaVersion));
    if (version < kSchemaVersion)
      throw StoreError(fmt::format("store {}: schema version {} is older than this build's ({}) and the store is "
                                   "opened read-only: run any writing dmgn command on it once (or on a copy) to "
                                   "migrate it",
                                   file.string(), version, kSchemaVersion));
    return;
  }
  const auto parent = file.parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
    if (ec)
      throw IoError(fmt::format("store {}: cannot create folder {}: {}", file.string(),
                                parent.string(), ec.message()));
  }
  db_ = std::make_unique<sqlite::Db>(file, kBusyTimeoutMs);
  db_->retry([&] {
    db_->exec("PRAGMA journal_mode=WAL");
    db_->exec("PRAGMA synchronous=NORMAL");
    db_->exec("PRAGMA foreign_keys=ON");
  });
  migrate();
}

RunStore::RunStore(RunStore&&) noexcept = default;
RunStore& RunStore::operator=(RunStore&&) noexcept = default;
RunStore::~RunStore() = default;

void RunStore::migrate() { store::migrate(*db_, kSchemaVersion); }

int RunStore::schema_version() const { return read_schema_version(*db_); }

int RunStore::file_schema_version(const std::filesystem::path& file) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec)) throw IoError(fmt::format("store {}: no such file", file.string()));
  const auto db = sqlite::Db::read_only(file, kBusyTimeoutMs);
  return read_schema_version(db);
}

int64_t RunStore::begin_run(const RunInfo& info) {
  int64_t id = 0;
  const std::string started = now_utc();
  db_->write([&] {
    sqlite::Stmt ins(*db_,
                     "INSERT INTO runs(config_hash, name, experiment, variant, sweep, task, "
                     "status, seed, git_revision, world_size, device, torch_version, "
                     "started_at, config_text, run_dir) "
                     "VALUES (?, ?, ?, ?, ?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?)");
    ins.bind(1, info.config_hash).bind(2, info.name).bind(3, info.experiment);
    ins.bind(4, info.variant).bind(5, info.sweep).bind(6, info.task).bind(7, info.seed);
    ins.bind(8, info.git_revision).bind(9, static_cast<int64_t>(info.world_size));
    ins.bind(10, info.device).bind(11, info.torch_version).bind(12, started);
    ins.bind(13, info.config_text).bind(14, info.run_dir);
    ins.run();
    id = db_->last_insert_id();
    sqlite::Stmt prov(*db_, "INSERT INTO provenance(run_id, key, value) VALUES (?, ?, ?)");
    for (const auto& [key, value] : info.provenance) {
      prov.reset();
      prov.bind(1, id).bind(2, key).bind(3, value).run();
    }
  });
  return id;
}

// Runs one UPDATE of a single run row (bind(1..) = values, then the id); no such run -> error.
void RunStore::update_run(int64_t id, const char* sql, const std::vector<std::string>& values) {
  db_->write([&] {
    sqlite::Stmt st(*db_, sql);
    int i = 1;
    for (const auto& v : values) st.bind(i++, v);
    st.bind(i, id).run();
    if (db_->changes() == 0)
      throw StoreError(fmt::format("store {}: no run with id {}", file_.string(), id));
  });
}

void RunStore::finish_run(int64_t id, const std::string& status) {
  if (status == "running" || !kStatuses.count(status))
    throw StoreError(fmt::format(
        "store {}: cannot finish run {} with status '{}' (expected completed, failed or "
        "interrupted)",
        file_.string(), id, status));
  update_run(id, "UPDATE runs SET status = ?, finished_at = ? WHERE id = ?", {status, now_utc()});
}

void RunStore::set_run_dir(int64_t id, const std::string& run_dir) {
  update_run(id, "UPDATE runs SET run_dir = ? WHERE id = ?", {run_dir});
}

void RunStore::reopen_run(int64_t id) {
  update_run(id, "UPDATE runs SET status = 'running', finished_at = NULL WHERE id = ?", {});
}

void RunStore::set_provenance(int64_t id, const std::string& key, const std::string& value) {
  if (key.empty())
    throw StoreError(fmt::format("store {}: empty provenance key for run {}", file_.string(), id));
  db_->write([&] {
    with_context(fmt::format("provenance '{}' of run {}", key, id), [&] {
      sqlite::Stmt(*db_, "INSERT OR REPLACE INTO provenance(run_id, key, value) VALUES (?, ?, ?)")
          .bind(1, id)
          .bind(2, key)
          .bind(3, value)
          .run();
    });
  });
}

void RunStore::log_metric(const Metric& m) { log_metrics({m}); }

void RunStore::log_metrics(const std::vector<Metric>& ms) {
  if (ms.empty()) return;
  for (const auto& m : ms) check_split(file_, m);
  db_->write([&] {
    sqlite::Stmt ins(*db_, kInsertMetric);
    for (const auto& m : ms) insert_metric(ins, m);
  });
}

void RunStore::delete_metrics(int64_t run_id, int64_t from_step, const std::vector<std::string>& splits) {
  db_->write([&] {
    if (splits.empty()) {
      sqlite::Stmt(*db_, "DELETE FROM metrics WHERE run_id = ? AND step >= ?").bind(1, run_id).bind(2, from_step).run();
      return;
    }
    for (const auto& split : splits)
      sqlite::Stmt(*db_, "DELETE FROM metrics WHERE run_id = ? AND step >= ? AND split = ?")
          .bind(1, run_id)
          .bind(2, from_step)
          .bind(3, split)
          .run();
  });
}

void RunStore::add_artifact(int64_t id, const std::string& kind, const std::string& path) {
  db_->write([&] {
    with_context(fmt::format("artifact '{}' of run {}", path, id), [&] {
      sqlite::Stmt(*db_, "INSERT INTO artifacts(run_id, kind, path) VALUES (?, ?, ?)")
          .bind(1, id)
          .bind(2, kind)
          .bind(3, path)
          .run();
    });
  });
}

std::vector<RunRow> RunStore::runs(const RunFilter& f) const {
  std::string where;
  std::vector<std::string> args;
  const auto add = [&](const char* column, const std::string& value) {
    if (value.empty()) return;
    where += where.empty() ? " WHERE " : " AND ";
    where += fmt::format("r.{} = ?", column);
    args.push_back(value);
  };
  add("experiment", f.experiment);
  add("variant", f.variant);
  add("status", f.status);
  add("config_hash", f.config_hash);
  add("sweep", f.sweep);

  std::vector<RunRow> out;
  db_->read([&] {
    out.clear();
    sqlite::Stmt q(*db_, fmt::format("SELECT {} FROM runs r{} ORDER BY r.id", kRunColumns, where));
    for (size_t i = 0; i < args.size(); ++i) q.bind(static_cast<int>(i + 1), args[i]);
    std::map<int64_t, size_t> index;
    while (q.step()) {
      index[q.i64(0)] = out.size();
      out.push_back(read_run(q));
    }
    sqlite::Stmt p(*db_, fmt::format("SELECT p.run_id, p.key, p.value FROM provenance p "
                                     "JOIN runs r ON r.id = p.run_id{}",
                                     where));
    for (size_t i = 0; i < args.size(); ++i) p.bind(static_cast<int>(i + 1), args[i]);
    while (p.step()) {
      const auto it = index.find(p.i64(0));
      if (it != index.end()) out[it->second].provenance[p.text(1)] = p.text(2);
    }
  });
  return out;
}

std::optional<RunRow> RunStore::run(int64_t id) const {
  std::optional<RunRow> out;
  db_->read([&] {
    out.reset();
    sqlite::Stmt q(*db_, fmt::format("SELECT {} FROM runs WHERE id = ?", kRunColumns));
    q.bind(1, id);
    if (!q.step()) return;
    out = read_run(q);
    sqlite::Stmt p(*db_, "SELECT key, value FROM provenance WHERE run_id = ?");
    p.bind(1, id);
    while (p.step()) out->provenance[p.text(0)] = p.text(1);
  });
  return out;
}

std::vector<Metric> RunStore::metrics(int64_t run_id, const std::string& split,
                                      const std::string& name) const {
  std::vector<Metric> out;
  // Conditions only for what is given, so that SQLite narrows by the (run_id, split, name, step)
  // index instead of reading every row of the run ("?2 = '' OR split = ?2" defeats the index).
  std::string sql = fmt::format("SELECT {} FROM metrics WHERE run_id = ?1", kMetricColumns);
  if (!split.empty()) sql += " AND split = ?2";
  if (!name.empty()) sql += " AND name = ?3";
  sql += " ORDER BY rowid";
  db_->read([&] {
    out.clear();
    sqlite::Stmt q(*db_, sql);
    q.bind(1, run_id);
    if (!split.empty()) q.bind(2, split);
    if (!name.empty()) q.bind(3, name);
    while (q.step()) out.push_back(read_metric(q));
  });
  return out;
}

std::optional<Metric> RunStore::last_metric(int64_t run_id, const std::string& split, const std::string& name) const {
  std::optional<Metric> out;
  db_->read([&] {
    out.reset();
    sqlite::Stmt q(*db_, fmt::format("SELECT {} FROM metrics WHERE run_id = ?1 AND split = ?2 AND name = ?3 "
                                      "ORDER BY step DESC, rowid DESC LIMIT 1",
                                      kMetricColumns));
    q.bind(1, run_id).bind(2, split).bind(3, name);
    if (q.step()) out = read_metric(q);
  });
  return out;
}

std::vector<Metric> RunStore::final_metrics(int64_t run_id, const std::string& split) const {
  std::map<std::pair<std::string, std::string>, Metric> best;
  for (auto& m : metrics(run_id, split)) {
    const auto key = std::make_pair(m.dataset, m.name);
    const auto it = best.find(key);
    if (it == best.end() || m.step >= it->second.step) best[key] = std::move(m);
  }
  std::vector<Metric> out;
  for (auto& [key, m] : best) out.push_back(std::move(m));
  return out;
}

std::vector<Artifact> RunStore::artifacts(int64_t run_id) const {
  std::vector<Artifact> out;
  db_->read([&] {
    out.clear();
    sqlite::Stmt q(*db_,
                   "SELECT run_id, kind, path FROM artifacts WHERE run_id = ? ORDER BY rowid");
    q.bind(1, run_id);
    while (q.step()) out.push_back(Artifact{q.i64(0), q.text(1), q.text(2)});
  });
  return out;
}

int64_t RunStore::log_bench(const BenchRow& row) {
  int64_t id = 0;
  const std::string created = now_utc();
  db_->write([&] {
    sqlite::Stmt ins(*db_,
                     "INSERT INTO benchmarks(bench, name, value, unit, params, config_hash, device, "
                     "torch_version, git_revision, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    ins.bind(1, row.bench).bind(2, row.name).bind(3, row.value).bind(4, row.unit).bind(5, row.params);
    ins.bind(6, row.config_hash).bind(7, row.device).bind(8, row.torch_version).bind(9, row.git_revision);
    ins.bind(10, created).run();
    id = db_->last_insert_id();
  });
  return id;
}

std::vector<BenchRow> RunStore::benches(const std::string& bench) const {
  std::vector<BenchRow> out;
  db_->read([&] {
    out.clear();
    sqlite::Stmt q(*db_,
                   "SELECT id, bench, name, value, unit, params, config_hash, device, torch_version, "
                   "git_revision, created_at FROM benchmarks WHERE (? = '' OR bench = ?) ORDER BY id");
    q.bind(1, bench).bind(2, bench);
    while (q.step())
      out.push_back(BenchRow{q.i64(0), q.text(1), q.text(2), q.real(3), q.text(4), q.text(5), q.text(6),
                             q.text(7), q.text(8), q.text(9), q.text(10)});
  });
  return out;
}

// ---- evaluations ------------------------------------------------------------------------

int64_t RunStore::log_evaluation(const Evaluation& e, const std::vector<EvalImage>& images) {
  int64_t id = 0;
  const std::string created = now_utc();
  db_->write([&] {
    sqlite::Stmt ins(*db_,
                     "INSERT INTO evaluations(run_id, checkpoint, step, config_hash, dataset, split, preset, "
                     "samples, skipped, psnr, ssim, psnr_input, ssim_input, provenance, created_at, origin) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    if (e.run_id > 0)
      ins.bind(1, e.run_id);
    else
      ins.bind_null(1);
    ins.bind(2, e.checkpoint).bind(3, e.step).bind(4, e.config_hash).bind(5, e.dataset).bind(6, e.split);
    ins.bind(7, e.preset).bind(8, e.samples).bind(9, e.skipped).bind(10, e.psnr).bind(11, e.ssim);
    ins.bind(12, e.psnr_input).bind(13, e.ssim_input).bind(14, e.provenance).bind(15, created).bind(16, e.origin).run();
    id = db_->last_insert_id();
    sqlite::Stmt img(*db_,
                     "INSERT INTO eval_images(evaluation_id, image, psnr, ssim, psnr_input, ssim_input, output) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?)");
    for (const auto& i : images) {
      img.bind(1, id).bind(2, i.image).bind(3, i.psnr).bind(4, i.ssim).bind(5, i.psnr_input);
      img.bind(6, i.ssim_input).bind(7, i.output).run();
      img.reset();
    }
  });
  return id;
}

std::vector<Evaluation> RunStore::evaluations(int64_t run_id) const {
  EvalFilter f;
  f.run_id = run_id;
  return evaluations(f);
}

std::vector<Evaluation> RunStore::evaluations(const EvalFilter& f) const {
  std::vector<Evaluation> out;
  db_->read([&] {
    out.clear();
    sqlite::Stmt q(*db_,
                   "SELECT id, COALESCE(run_id, 0), step, samples, skipped, checkpoint, config_hash, dataset, "
                   "split, preset, psnr, ssim, psnr_input, ssim_input, provenance, created_at, origin "
                   "FROM evaluations WHERE (? < 0 OR run_id = ?) AND (? = '' OR dataset = ?) "
                   "AND (? = '' OR preset = ?) AND (? = '' OR origin = ?) ORDER BY id");
    q.bind(1, f.run_id).bind(2, f.run_id).bind(3, f.dataset).bind(4, f.dataset).bind(5, f.preset);
    q.bind(6, f.preset).bind(7, f.origin).bind(8, f.origin);
    while (q.step())
      out.push_back(Evaluation{q.i64(0), q.i64(1), q.i64(2), q.i64(3), q.i64(4), q.text(5), q.text(6), q.text(7),
                               q.text(8), q.text(9), q.real(10), q.real(11), q.real(12), q.real(13), q.text(14),
                               q.text(15), q.text(16)});
  });
  return out;
}

std::vector<EvalImage> RunStore::eval_images(int64_t evaluation_id) const {
  std::vector<EvalImage> out;
  db_->read([&] {
    out.clear();
    sqlite::Stmt q(*db_,
                   "SELECT image, psnr, ssim, psnr_input, ssim_input, output FROM eval_images "
                   "WHERE evaluation_id = ? ORDER BY rowid");
    q.bind(1, evaluation_id);
    while (q.step()) out.push_back(EvalImage{q.text(0), q.real(1), q.real(2), q.real(3), q.real(4), q.text(5)});
  });
  return out;
}

std::optional<RunRow> RunStore::run_of_checkpoint(const std::filesystem::path& checkpoint) const {
  std::error_code ec;
  const auto dir = std::filesystem::weakly_canonical(checkpoint, ec).parent_path().parent_path();
  if (ec || dir.empty()) return std::nullopt;
  for (const auto& r : runs()) {
    if (r.run_dir.empty()) continue;
    const auto rd = std::filesystem::weakly_canonical(r.run_dir, ec);
    if (!ec && rd == dir) return run(r.id);
  }
  return std::nullopt;
}

}  // namespace dmgn::store
