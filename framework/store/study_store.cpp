#include "store/study_store.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <chrono>
#include <ctime>

#include "core/error.h"
#include "store/run_store.h"
#include "store/sqlite.h"

namespace dmgn::store {

namespace {

constexpr int kBusyTimeoutMs = 30000;

// Now as ISO-8601 UTC with milliseconds (votes cast within one second stay ordered).
std::string now_utc_ms() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:03d}Z", buf, ms);
}

StudyInfo read_info(const sqlite::Stmt& q) {
  StudyInfo s;
  s.id = q.i64(0);
  s.name = q.text(1);
  s.dataset = q.text(2);
  s.seed = q.i64(3);
  s.dir = q.text(4);
  s.token = q.text(5);
  s.provenance = q.text(6);
  s.git_revision = q.text(7);
  s.created_at = q.text(8);
  return s;
}

constexpr const char* kInfoColumns = "id, name, dataset, seed, dir, token, provenance, git_revision, created_at";

StudySubject read_subject(const sqlite::Stmt& q) {
  StudySubject s;
  s.id = q.i64(0);
  s.name = q.text(1);
  s.key = q.text(2);
  s.started_at = q.text(3);
  s.finished_at = q.is_null(4) ? "" : q.text(4);
  return s;
}

constexpr const char* kSubjectColumns = "id, name, key, started_at, finished_at";

constexpr const char* kVoteSelect =
    "SELECT v.subject_id, s.name, v.sample, v.method, v.shown_order, v.cast_at, v.revisions "
    "FROM study_votes v JOIN study_subjects s ON s.id = v.subject_id ";

StudyVote read_vote(const sqlite::Stmt& q) {
  return {q.i64(0), q.text(1), q.i64(2), q.i64(3), q.text(4), q.text(5), q.i64(6)};
}

}  // namespace

const StudyImage& Study::image(int64_t sample, int64_t method) const {
  for (const auto& im : images)
    if (im.sample == sample && im.method == method) return im;
  throw StoreError(fmt::format("study '{}' has no image for sample {} and method {}", name, sample, method));
}

StudyStore::StudyStore(const std::filesystem::path& file, Access access) : file_(file) {
  if (access == Access::read_only) {
    RunStore check(file, RunStore::Access::read_only);  // exists, and its schema is this build's
    db_ = std::make_unique<sqlite::Db>(sqlite::Db::read_only(file, kBusyTimeoutMs));
    return;
  }
  { RunStore migrate(file); }  // creates the file, WAL mode, migrations
  db_ = std::make_unique<sqlite::Db>(file, kBusyTimeoutMs);
  db_->retry([&] { db_->exec("PRAGMA foreign_keys=ON"); });
}

StudyStore::StudyStore(StudyStore&&) noexcept = default;
StudyStore& StudyStore::operator=(StudyStore&&) noexcept = default;
StudyStore::~StudyStore() = default;

int64_t StudyStore::create(const Study& s) {
  int64_t id = 0;
  db_->write([&] {
    sqlite::Stmt exists(*db_, "SELECT id FROM studies WHERE name = ?");
    exists.bind(1, s.name);
    if (exists.step())
      throw ConfigError(fmt::format("store {}: a study named '{}' exists already (study {}); choose another name",
                                    file_.string(), s.name, exists.i64(0)));
    sqlite::Stmt ins(*db_,
                     "INSERT INTO studies(name, dataset, seed, dir, token, provenance, git_revision, created_at) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
    ins.bind(1, s.name).bind(2, s.dataset).bind(3, s.seed).bind(4, s.dir).bind(5, s.token);
    ins.bind(6, s.provenance).bind(7, s.git_revision).bind(8, now_utc());
    ins.run();
    id = db_->last_insert_id();
    sqlite::Stmt m(*db_,
                   "INSERT INTO study_methods(study_id, position, name, kind, source, run_id, checkpoint, step) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
    for (const auto& x : s.methods) {
      m.reset();
      m.bind(1, id).bind(2, x.position).bind(3, x.name).bind(4, x.kind).bind(5, x.source);
      if (x.run_id > 0)
        m.bind(6, x.run_id);
      else
        m.bind_null(6);
      m.bind(7, x.checkpoint).bind(8, x.step);
      m.run();
    }
    sqlite::Stmt sm(*db_,
                    "INSERT INTO study_samples(study_id, position, sample, dataset_index, input_file) "
                    "VALUES (?, ?, ?, ?, ?)");
    for (const auto& x : s.samples) {
      sm.reset();
      sm.bind(1, id).bind(2, x.position).bind(3, x.sample).bind(4, x.dataset_index).bind(5, x.input_file);
      sm.run();
    }
    sqlite::Stmt im(*db_, "INSERT INTO study_images(study_id, sample, method, file, psnr, ssim) VALUES (?, ?, ?, ?, ?, ?)");
    for (const auto& x : s.images) {
      im.reset();
      im.bind(1, id).bind(2, x.sample).bind(3, x.method).bind(4, x.file).bind(5, x.psnr).bind(6, x.ssim);
      im.run();
    }
  });
  return id;
}

std::optional<Study> StudyStore::find(const std::string& name) const {
  std::optional<Study> out;
  db_->read([&] {
    out.reset();
    sqlite::Stmt q(*db_, fmt::format("SELECT {} FROM studies WHERE name = ?", kInfoColumns));
    q.bind(1, name);
    if (!q.step()) return;
    Study s;
    static_cast<StudyInfo&>(s) = read_info(q);
    sqlite::Stmt m(*db_,
                   "SELECT position, name, kind, source, COALESCE(run_id, 0), checkpoint, step FROM study_methods "
                   "WHERE study_id = ? ORDER BY position");
    m.bind(1, s.id);
    while (m.step()) s.methods.push_back({m.i64(0), m.text(1), m.text(2), m.text(3), m.i64(4), m.text(5), m.i64(6)});
    sqlite::Stmt sm(*db_,
                    "SELECT position, sample, dataset_index, input_file FROM study_samples WHERE study_id = ? "
                    "ORDER BY position");
    sm.bind(1, s.id);
    while (sm.step()) s.samples.push_back({sm.i64(0), sm.text(1), sm.i64(2), sm.text(3)});
    sqlite::Stmt im(*db_,
                    "SELECT sample, method, file, psnr, ssim FROM study_images WHERE study_id = ? "
                    "ORDER BY sample, method");
    im.bind(1, s.id);
    while (im.step()) s.images.push_back({im.i64(0), im.i64(1), im.text(2), im.real(3), im.real(4)});
    out = std::move(s);
  });
  return out;
}

Study StudyStore::get(const std::string& name) const {
  if (auto s = find(name)) return *s;
  std::vector<std::string> known;
  for (const auto& s : list()) known.push_back(s.name);
  throw ConfigError(fmt::format("store {}: no study named '{}' ({})", file_.string(), name,
                                known.empty() ? "it has none: `dmgn study create` makes one"
                                              : fmt::format("known: {}", fmt::join(known, ", "))));
}

std::vector<StudyInfo> StudyStore::list() const {
  std::vector<StudyInfo> out;
  db_->read([&] {
    out.clear();
    sqlite::Stmt q(*db_, fmt::format("SELECT {} FROM studies ORDER BY id", kInfoColumns));
    while (q.step()) out.push_back(read_info(q));
  });
  return out;
}

StudySubject StudyStore::join(int64_t study_id, const std::string& name, const std::string& new_key) {
  StudySubject s;
  db_->write([&] {
    sqlite::Stmt q(*db_, fmt::format("SELECT {} FROM study_subjects WHERE study_id = ? AND name = ?", kSubjectColumns));
    q.bind(1, study_id).bind(2, name);
    if (q.step()) {
      s = read_subject(q);
      return;
    }
    sqlite::Stmt ins(*db_, "INSERT INTO study_subjects(study_id, name, key, started_at) VALUES (?, ?, ?, ?)");
    ins.bind(1, study_id).bind(2, name).bind(3, new_key).bind(4, now_utc_ms());
    ins.run();
    q.reset();
    q.bind(1, study_id).bind(2, name);
    if (!q.step()) throw StoreError(fmt::format("store {}: subject '{}' was not stored", file_.string(), name));
    s = read_subject(q);
  });
  return s;
}

std::optional<StudySubject> StudyStore::subject_by_key(int64_t study_id, const std::string& key) const {
  std::optional<StudySubject> out;
  db_->read([&] {
    out.reset();
    sqlite::Stmt q(*db_, fmt::format("SELECT {} FROM study_subjects WHERE study_id = ? AND key = ?", kSubjectColumns));
    q.bind(1, study_id).bind(2, key);
    if (q.step()) out = read_subject(q);
  });
  return out;
}

std::vector<StudySubject> StudyStore::subjects(int64_t study_id) const {
  std::vector<StudySubject> out;
  db_->read([&] {
    out.clear();
    sqlite::Stmt q(*db_, fmt::format("SELECT {} FROM study_subjects WHERE study_id = ? ORDER BY id", kSubjectColumns));
    q.bind(1, study_id);
    while (q.step()) out.push_back(read_subject(q));
  });
  return out;
}

void StudyStore::finish(int64_t subject_id) {
  db_->write([&] {
    sqlite::Stmt u(*db_, "UPDATE study_subjects SET finished_at = ? WHERE id = ? AND finished_at IS NULL");
    u.bind(1, now_utc_ms()).bind(2, subject_id);
    u.run();
  });
}

StudyVote StudyStore::cast(int64_t study_id, int64_t subject_id, int64_t sample, int64_t method,
                           const std::string& shown_order) {
  StudyVote v;
  db_->write([&] {
    sqlite::Stmt up(*db_,
                    "INSERT INTO study_votes(study_id, subject_id, sample, method, shown_order, cast_at) "
                    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(subject_id, sample) DO UPDATE SET "
                    "method = excluded.method, shown_order = excluded.shown_order, cast_at = excluded.cast_at, "
                    "revisions = revisions + (method != excluded.method)");
    up.bind(1, study_id).bind(2, subject_id).bind(3, sample).bind(4, method).bind(5, shown_order).bind(6, now_utc_ms());
    up.run();
    sqlite::Stmt q(*db_, std::string(kVoteSelect) + "WHERE v.subject_id = ? AND v.sample = ?");
    q.bind(1, subject_id).bind(2, sample);
    if (!q.step()) throw StoreError(fmt::format("store {}: vote of subject {} on sample {} was not stored", file_.string(), subject_id, sample));
    v = read_vote(q);
  });
  return v;
}

std::vector<StudyVote> StudyStore::votes(int64_t study_id) const {
  std::vector<StudyVote> out;
  db_->read([&] {
    out.clear();
    sqlite::Stmt q(*db_, std::string(kVoteSelect) + "WHERE v.study_id = ? ORDER BY v.subject_id, v.sample");
    q.bind(1, study_id);
    while (q.step()) out.push_back(read_vote(q));
  });
  return out;
}

std::vector<StudyVote> StudyStore::votes_of(int64_t subject_id) const {
  std::vector<StudyVote> out;
  db_->read([&] {
    out.clear();
    sqlite::Stmt q(*db_, std::string(kVoteSelect) + "WHERE v.subject_id = ? ORDER BY v.sample");
    q.bind(1, subject_id);
    while (q.step()) out.push_back(read_vote(q));
  });
  return out;
}

}  // namespace dmgn::store
