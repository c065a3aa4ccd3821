#include "store/schema.h"

#include <fmt/format.h>

#include <string>
#include <vector>

namespace dmgn::store {

namespace {

// kMigrations[i] brings the schema from version i to version i + 1. Append only; never edit
// a migration that has shipped.
const std::vector<std::string>& migrations() {
  static const std::vector<std::string> kMigrations = {
      // 1: initial schema
      R"sql(
CREATE TABLE runs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  config_hash TEXT NOT NULL DEFAULT '',
  name TEXT NOT NULL DEFAULT '',
  experiment TEXT NOT NULL DEFAULT '',
  variant TEXT NOT NULL DEFAULT '',
  sweep TEXT NOT NULL DEFAULT '',
  task TEXT NOT NULL DEFAULT '',
  status TEXT NOT NULL CHECK (status IN ('running','completed','failed','interrupted')),
  seed INTEGER NOT NULL DEFAULT 0,
  git_revision TEXT NOT NULL DEFAULT '',
  world_size INTEGER NOT NULL DEFAULT 1,
  device TEXT NOT NULL DEFAULT '',
  torch_version TEXT NOT NULL DEFAULT '',
  started_at TEXT NOT NULL,
  finished_at TEXT,
  config_text TEXT NOT NULL DEFAULT '',
  run_dir TEXT NOT NULL DEFAULT ''
);
CREATE TABLE provenance (
  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (run_id, key)
);
CREATE TABLE metrics (
  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  step INTEGER NOT NULL,
  split TEXT NOT NULL CHECK (split IN ('train','val','test')),
  dataset TEXT NOT NULL DEFAULT '',
  name TEXT NOT NULL,
  value REAL,
  preset TEXT NOT NULL DEFAULT ''
);
CREATE TABLE artifacts (
  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  kind TEXT NOT NULL,
  path TEXT NOT NULL
);
CREATE INDEX runs_config_hash ON runs(config_hash);
CREATE INDEX runs_experiment_variant ON runs(experiment, variant);
CREATE INDEX metrics_run ON metrics(run_id);
CREATE INDEX artifacts_run ON artifacts(run_id);
)sql",
      // 2: benchmark results (dmgn bench ...)
      R"sql(
CREATE TABLE benchmarks (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  bench TEXT NOT NULL,
  name TEXT NOT NULL,
  value REAL,
  unit TEXT NOT NULL DEFAULT '',
  params TEXT NOT NULL DEFAULT '',
  config_hash TEXT NOT NULL DEFAULT '',
  device TEXT NOT NULL DEFAULT '',
  torch_version TEXT NOT NULL DEFAULT '',
  git_revision TEXT NOT NULL DEFAULT '',
  created_at TEXT NOT NULL
);
CREATE INDEX benchmarks_bench ON benchmarks(bench, name);
)sql",
      // 3: evaluations of checkpoints on datasets (dmgn eval), with per-image scores
      R"sql(
CREATE TABLE evaluations (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  run_id INTEGER REFERENCES runs(id) ON DELETE SET NULL,
  checkpoint TEXT NOT NULL DEFAULT '',
  step INTEGER NOT NULL DEFAULT 0,
  config_hash TEXT NOT NULL DEFAULT '',
  dataset TEXT NOT NULL,
  split TEXT NOT NULL DEFAULT 'test',
  preset TEXT NOT NULL DEFAULT '',
  samples INTEGER NOT NULL DEFAULT 0,
  skipped INTEGER NOT NULL DEFAULT 0,
  psnr REAL, ssim REAL, psnr_input REAL, ssim_input REAL,
  provenance TEXT NOT NULL DEFAULT '',
  created_at TEXT NOT NULL
);
CREATE TABLE eval_images (
  evaluation_id INTEGER NOT NULL REFERENCES evaluations(id) ON DELETE CASCADE,
  image TEXT NOT NULL,
  psnr REAL, ssim REAL, psnr_input REAL, ssim_input REAL,
  output TEXT NOT NULL DEFAULT ''
);
CREATE INDEX evaluations_run ON evaluations(run_id);
CREATE INDEX eval_images_evaluation ON eval_images(evaluation_id);
)sql",
      // 4: regenerated reports (dmgn report tableN) with their provenance and paired verdicts
      R"sql(
CREATE TABLE reports (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  report TEXT NOT NULL,
  sweep TEXT NOT NULL DEFAULT '',
  runs TEXT NOT NULL DEFAULT '',
  provenance TEXT NOT NULL DEFAULT '',
  git_revision TEXT NOT NULL DEFAULT '',
  created_at TEXT NOT NULL
);
CREATE TABLE report_verdicts (
  report_id INTEGER NOT NULL REFERENCES reports(id) ON DELETE CASCADE,
  dataset TEXT NOT NULL,
  metric TEXT NOT NULL,
  a TEXT NOT NULL,
  b TEXT NOT NULL,
  seeds INTEGER NOT NULL DEFAULT 0,
  images INTEGER NOT NULL DEFAULT 0,
  mean REAL, lo REAL, hi REAL,
  verdict TEXT NOT NULL,
  sd_seed REAL, sd_image REAL, sd_residual REAL
);
CREATE INDEX reports_report ON reports(report);
CREATE INDEX report_verdicts_report ON report_verdicts(report_id);
)sql",
      // 5: blind human-evaluation studies (dmgn study; DMGN Table IV): a study's samples and
      // methods with the images rendered for them, its subjects, and one vote per subject and
      // sample (a changed vote replaces the row and counts a revision).
      R"sql(
CREATE TABLE studies (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL UNIQUE,
  dataset TEXT NOT NULL,
  seed INTEGER NOT NULL,
  dir TEXT NOT NULL,
  token TEXT NOT NULL,
  provenance TEXT NOT NULL DEFAULT '',
  git_revision TEXT NOT NULL DEFAULT '',
  created_at TEXT NOT NULL
);
CREATE TABLE study_methods (
  study_id INTEGER NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
  position INTEGER NOT NULL,
  name TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('run','folder','input')),
  source TEXT NOT NULL DEFAULT '',
  run_id INTEGER,
  checkpoint TEXT NOT NULL DEFAULT '',
  step INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (study_id, position),
  UNIQUE (study_id, name)
);
CREATE TABLE study_samples (
  study_id INTEGER NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
  position INTEGER NOT NULL,
  sample TEXT NOT NULL,
  dataset_index INTEGER NOT NULL,
  input_file TEXT NOT NULL,
  PRIMARY KEY (study_id, position)
);
CREATE TABLE study_images (
  study_id INTEGER NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
  sample INTEGER NOT NULL,
  method INTEGER NOT NULL,
  file TEXT NOT NULL,
  psnr REAL, ssim REAL,
  PRIMARY KEY (study_id, sample, method),
  UNIQUE (study_id, file)
);
CREATE TABLE study_subjects (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  study_id INTEGER NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  key TEXT NOT NULL UNIQUE,
  started_at TEXT NOT NULL,
  finished_at TEXT,
  UNIQUE (study_id, name)
);
CREATE TABLE study_votes (
  study_id INTEGER NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
  subject_id INTEGER NOT NULL REFERENCES study_subjects(id) ON DELETE CASCADE,
  sample INTEGER NOT NULL,
  method INTEGER NOT NULL,
  shown_order TEXT NOT NULL,
  cast_at TEXT NOT NULL,
  revisions INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (subject_id, sample)
);
CREATE INDEX study_votes_study ON study_votes(study_id);
)sql",
      // 6: what made an evaluation: a run's own end-of-training test ('train'), `dmgn eval`
      // ('eval') or a cross-system re-scoring ('cross-system'). `dmgn eval` no longer writes a run's
      // test metrics: the rows it wrote before (a test metric of a run at the step and on the
      // dataset of one of its 'eval' evaluations, under its convention, where the run's own test
      // has no such evaluation) are removed, so `runs` and the tables show the run's own test.
      R"sql(
ALTER TABLE evaluations ADD COLUMN origin TEXT NOT NULL DEFAULT 'eval';
UPDATE evaluations SET origin = 'train' WHERE provenance LIKE '%end_of_training=true%';
UPDATE evaluations SET origin = 'cross-system' WHERE provenance LIKE '%cross_data=%';
DELETE FROM metrics WHERE split = 'test'
  AND EXISTS (SELECT 1 FROM evaluations e WHERE e.origin = 'eval' AND e.run_id = metrics.run_id
              AND e.step = metrics.step AND e.dataset = metrics.dataset AND e.preset = metrics.preset)
  AND NOT EXISTS (SELECT 1 FROM evaluations t WHERE t.origin = 'train' AND t.run_id = metrics.run_id
                  AND t.step = metrics.step AND t.dataset = metrics.dataset AND t.preset = metrics.preset);
CREATE INDEX evaluations_origin ON evaluations(origin, dataset);
)sql",
      // 7: a run's metrics of one split and name found by index, in step order (the latest
      // training row of each run for `dmgn board`'s runs list, a split's final numbers, a
      // curve), instead of a scan of all the run's rows: on a store of 120 runs with 120,000
      // training rows each, the board's runs list took seconds per refresh. It replaces the
      // run-only index, which it covers.
      R"sql(
CREATE INDEX IF NOT EXISTS metrics_run_split_name ON metrics(run_id, split, name, step);
DROP INDEX IF EXISTS metrics_run;
)sql",
  };
  return kMigrations;
}

constexpr const char* kVersionTable =
    "CREATE TABLE IF NOT EXISTS schema_version ("
    " version INTEGER PRIMARY KEY,"
    " applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ','now')))";

int max_version(const sqlite::Db& db) {
  sqlite::Stmt q(db, "SELECT COALESCE(MAX(version), 0) FROM schema_version");
  q.step();
  return static_cast<int>(q.i64(0));
}

}  // namespace

int read_schema_version(const sqlite::Db& db) {
  int version = 0;
  db.read([&] {
    sqlite::Stmt exists(db,
                        "SELECT 1 FROM sqlite_master WHERE type='table' AND name='schema_version'");
    version = exists.step() ? max_version(db) : 0;
  });
  return version;
}

int migrate(const sqlite::Db& db, int target) {
  const auto& steps = migrations();
  if (target > static_cast<int>(steps.size()))
    throw StoreError(
        fmt::format("store {}: no migration to schema version {}", db.file().string(), target));
  int version = read_schema_version(db);
  if (version == target) return version;  // common case: no write lock needed
  db.write([&] {
    db.exec(kVersionTable);
    version = max_version(db);
    if (version > target)
      throw StoreError(
          fmt::format("store {}: schema version {} is newer than this build of dmgn supports ({}); "
                      "use a newer dmgn or another store file",
                      db.file().string(), version, target));
    for (int v = version + 1; v <= target; ++v) {
      db.exec(steps[static_cast<size_t>(v - 1)]);
      sqlite::Stmt(db, "INSERT INTO schema_version(version) VALUES (?)")
          .bind(1, static_cast<int64_t>(v))
          .run();
    }
    version = max_version(db);
  });
  return version;
}

}  // namespace dmgn::store
