#pragma once
// RunStore: every run, its provenance flags, metrics and artifacts in one SQLite file
// (default results/runs.sqlite; parent folders are created). WAL mode, 30 s busy timeout and
// a retry-with-backoff loop around every transaction, so several processes (sweep workers,
// ranks) may write to one file at once. Each process opens its own RunStore; an instance is
// movable (a moved-from one may only be destroyed or assigned) but must not be shared across
// threads. The schema is versioned (schema_version table, ordered migrations); a file from a
// newer dmgn is refused.
// Errors: StoreError naming the file and the SQLite message; IoError for an unusable folder.
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace dmgn::store {

namespace sqlite {
class Db;
}

// What a run is, recorded by begin_run. Provenance holds flags such as
// vgg_weights=random|file, dataset=builtin-synthetic|real, steps, epochs.
struct RunInfo {
  std::string config_hash, name, experiment, variant, sweep, task, config_text, git_revision,
      torch_version, device, run_dir;
  int64_t seed = 0;
  int world_size = 1;
  std::map<std::string, std::string> provenance;
};

// A stored run. status: running | completed | failed | interrupted. Timestamps are
// ISO-8601 UTC ("2024-05-01T12:34:56Z"); finished_at is empty while running.
struct RunRow : RunInfo {
  int64_t id = 0;
  std::string status, started_at, finished_at;
};

// split: train | val | test. dataset: the evaluation set id ("real20", "wild", "builtin");
// may be empty for training losses. preset: the metric convention (e.g. PSNR on RGB vs Y).
// A NaN value is stored as NULL and reads back as NaN.
struct Metric {
  int64_t run_id = 0;
  int64_t step = 0;
  std::string split, dataset, name;
  double value = 0;
  std::string preset;
};

struct Artifact {
  int64_t run_id = 0;
  std::string kind, path;
};

// One benchmark figure (dmgn bench ...): bench "scaling" | "model" | "data", name e.g.
// "images_per_s", params the setting in "key=value" words ("world_size=2 global_batch=4").
struct BenchRow {
  int64_t id = 0;
  std::string bench, name;
  double value = 0;
  std::string unit, params, config_hash, device, torch_version, git_revision, created_at;
};
// One evaluation of a checkpoint on a dataset (dmgn eval): means, and per image below.
// run_id = 0 when the checkpoint belongs to no run of this store (e.g. imported weights).
struct EvalImage {
  std::string image;  // the sample id (file path under the dataset root)
  double psnr = 0, ssim = 0, psnr_input = 0, ssim_input = 0;
  std::string output;  // saved output image, if any
};
// origin says what made it: "train" (a run's own end-of-training test: what `runs`, the paper
// tables and their provenance show), "eval" (`dmgn eval`), "cross-system" (`report
// cross-system` / `report systems` re-scoring). Only "train" evaluations are a run's results;
// the others are listed by `dmgn evals` and enter a table only when asked for.
struct Evaluation {
  int64_t id = 0, run_id = 0, step = 0, samples = 0, skipped = 0;
  std::string checkpoint, config_hash, dataset, split = "test", preset;
  double psnr = 0, ssim = 0, psnr_input = 0, ssim_input = 0;
  std::string provenance;  // "key=value" words (dataset root, adapter, converted files, ...)
  std::string created_at;
  std::string origin = "eval";
};
struct EvalFilter {  // empty / -1 field = any
  int64_t run_id = -1;
  std::string dataset, preset, origin;
};

// A regenerated report (dmgn report tableN) as it was computed: which runs it read, the text
// of its provenance (footer lines), and its paired verdicts (report/paired.h), one row per
// ordering a < b, dataset and metric: the mean paired difference b - a, its 95% bootstrap
// interval, the verdict (holds | reversed | not resolved | not computed) and the standard
// deviations of the difference by seed, by image and residual.
struct ReportVerdict {
  std::string dataset, metric, a, b;
  int64_t seeds = 0, images = 0;
  double mean = 0, lo = 0, hi = 0;
  std::string verdict;
  double sd_seed = 0, sd_image = 0, sd_residual = 0;
};
struct ReportRecord {
  int64_t id = 0;
  std::string report, sweep;   // e.g. "table1"; the sweep it was restricted to ("" = none)
  std::vector<int64_t> runs;   // every run behind the report's numbers
  std::string provenance, git_revision, created_at;
  std::vector<ReportVerdict> verdicts;
};

// What RunStore::gather did with one source store file.
struct GatherResult {
  std::filesystem::path source;
  std::vector<int64_t> gathered;  // ids in this store of the runs copied now
  int already = 0;                // completed runs of the source already here, identical
  int unfinished = 0;             // runs of the source not completed (left there, not copied)
};

struct RunFilter {  // empty field = any
  std::string experiment, variant, status, config_hash, sweep;
};

inline constexpr const char* kDefaultStoreFile = "results/runs.sqlite";

// Now as the store writes timestamps: ISO-8601 UTC.
std::string now_utc();

class RunStore {
 public:
  static constexpr int kSchemaVersion = 7;

  // read_write creates the file (and folders) if needed, sets WAL mode and migrates the
  // schema. read_only opens an existing file without writing anything (no WAL switch, no
  // migration, no -wal/-shm files where the folder cannot be written): listings and reports of
  // a store on read-only media or someone else's folder. Writes on it fail with a StoreError.
  enum class Access { read_write, read_only };
  explicit RunStore(const std::filesystem::path& file = kDefaultStoreFile, Access access = Access::read_write);
  RunStore(RunStore&&) noexcept;
  RunStore& operator=(RunStore&&) noexcept;
  RunStore(const RunStore&) = delete;
  RunStore& operator=(const RunStore&) = delete;
  ~RunStore();

  int64_t begin_run(const RunInfo& info);  // status 'running', started_at now; returns id
  // status must be completed | failed | interrupted; sets finished_at now.
  void finish_run(int64_t id, const std::string& status);
  void set_run_dir(int64_t id, const std::string& run_dir);  // the run's folder (known after begin_run)
  void reopen_run(int64_t id);  // back to 'running' (a resumed run); clears finished_at
  void set_provenance(int64_t id, const std::string& key, const std::string& value);  // upsert
  void log_metric(const Metric& m);
  void log_metrics(const std::vector<Metric>& ms);  // one transaction
  // Deletes run `run_id`'s metrics with step >= from_step (only those of `splits` when given),
  // e.g. what a crashed run logged after the checkpoint it resumes from.
  void delete_metrics(int64_t run_id, int64_t from_step, const std::vector<std::string>& splits = {});
  void add_artifact(int64_t id, const std::string& kind, const std::string& path);

  int64_t log_bench(const BenchRow& row);  // created_at is set now; returns the id
  std::vector<BenchRow> benches(const std::string& bench = "") const;  // ordered by id
  std::vector<RunRow> runs(const RunFilter& filter = {}) const;  // ordered by id
  std::optional<RunRow> run(int64_t id) const;
  // In logging order; empty split/name = any.
  std::vector<Metric> metrics(int64_t run_id, const std::string& split = "",
                              const std::string& name = "") const;
  // Per (dataset, name) of `split`, the value at the highest step (the latest logged on a tie):
  // a run's final numbers. Ordered by dataset, then name.
  std::vector<Metric> final_metrics(int64_t run_id, const std::string& split) const;
  // The row of metric `name` of `split` (any dataset) at the highest step (the latest logged on
  // a tie), e.g. a training run's latest it/s; nullopt when there is none. One index lookup.
  std::optional<Metric> last_metric(int64_t run_id, const std::string& split, const std::string& name) const;
  std::vector<Artifact> artifacts(int64_t run_id) const;  // in logging order

  // An evaluation with its per-image rows, in one transaction; returns its id.
  int64_t log_evaluation(const Evaluation& e, const std::vector<EvalImage>& images);
  std::vector<Evaluation> evaluations(int64_t run_id = -1) const;  // -1 = all; ordered by id
  std::vector<Evaluation> evaluations(const EvalFilter& filter) const;  // ordered by id
  std::vector<EvalImage> eval_images(int64_t evaluation_id) const;  // in logging order
  // The run whose folder holds `checkpoint` (<run_dir>/checkpoints/step_*.ckpt), if any.
  std::optional<RunRow> run_of_checkpoint(const std::filesystem::path& checkpoint) const;

  // A report with its verdicts, in one transaction (created_at set now); returns its id.
  int64_t log_report(const ReportRecord& r);
  // Ordered by id; empty `report` = any. With their verdicts.
  std::vector<ReportRecord> reports(const std::string& report = "") const;

  // Copies the completed runs of the store file `source` (another machine's, one run's own
  // store) into this one, each with its provenance, metrics, artifacts and evaluations (their
  // per-image rows included), all of one run in one transaction and under a new id. A run's
  // identity is its config hash and run folder (a folder name carries a random token, so two
  // runs never share one). Idempotent: a run already here with identical content is counted,
  // not copied again; one here with the same identity but other content is refused
  // (StoreError naming both files, the run and the first field that differs). Running, failed
  // and interrupted runs stay in the source (a requeue or --retry-failed may still complete
  // them). The source is opened read-only and must have this build's schema version.
  GatherResult gather(const std::filesystem::path& source);

  int schema_version() const;
  // The schema version of an existing store file, read without writing anything (0: no schema).
  static int file_schema_version(const std::filesystem::path& file);
  const std::filesystem::path& path() const { return file_; }

 private:
  void migrate();
  void update_run(int64_t id, const char* sql, const std::vector<std::string>& values);
  std::filesystem::path file_;
  std::unique_ptr<sqlite::Db> db_;
};

}  // namespace dmgn::store
