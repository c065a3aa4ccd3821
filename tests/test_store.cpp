// RunStore: round trips, reopening, schema versioning, filters, concurrent writers, listing.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "core/error.h"
#include "store/format_runs.h"
#include "store/run_store.h"
#include "test_util.h"

namespace fs = std::filesystem;
using dmgn::store::BenchRow;
using dmgn::store::EvalFilter;
using dmgn::store::Evaluation;
using dmgn::store::Metric;
using dmgn::store::RunFilter;
using dmgn::store::RunInfo;
using dmgn::store::RunStore;

namespace {

RunInfo make_info(const std::string& experiment, const std::string& variant,
                  const std::string& hash = "0123456789abcdef0123") {
  RunInfo info;
  info.config_hash = hash;
  info.name = experiment + "-" + variant;
  info.experiment = experiment;
  info.variant = variant;
  info.sweep = "sweepA";
  info.task = "reflection";
  info.config_text = "[model]\nname = \"dmgn\"\n";
  info.git_revision = "abc1234";
  info.torch_version = "1.13.1";
  info.device = "cpu";
  info.run_dir = "results/runs/x";
  info.seed = 42;
  info.world_size = 2;
  info.provenance = {{"vgg_weights", "random"}, {"dataset", "builtin-synthetic"}};
  return info;
}

template <class F>
std::string error_of(F&& fn) {
  try {
    fn();
  } catch (const dmgn::StoreError& e) {
    return e.what();
  }
  return "<no StoreError>";
}

}  // namespace

TEST(RunStore, RoundTripsRunsProvenanceMetricsArtifacts) {
  const fs::path file = dmgn::testing::scratch("store_roundtrip") / "runs.sqlite";
  RunStore store(file);
  EXPECT_EQ(store.path(), file);

  const RunInfo info = make_info("table1", "DMGN");
  const int64_t id = store.begin_run(info);
  EXPECT_GT(id, 0);

  auto row = store.run(id);
  ASSERT_TRUE(row.has_value());
  EXPECT_EQ(row->status, "running");
  EXPECT_TRUE(row->finished_at.empty());
  EXPECT_TRUE(std::regex_match(row->started_at, std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)")))
      << row->started_at;
  EXPECT_EQ(row->config_hash, info.config_hash);
  EXPECT_EQ(row->name, info.name);
  EXPECT_EQ(row->experiment, "table1");
  EXPECT_EQ(row->variant, "DMGN");
  EXPECT_EQ(row->sweep, "sweepA");
  EXPECT_EQ(row->task, "reflection");
  EXPECT_EQ(row->config_text, info.config_text);
  EXPECT_EQ(row->git_revision, "abc1234");
  EXPECT_EQ(row->torch_version, "1.13.1");
  EXPECT_EQ(row->device, "cpu");
  EXPECT_EQ(row->run_dir, "results/runs/x");
  EXPECT_EQ(row->seed, 42);
  EXPECT_EQ(row->world_size, 2);
  EXPECT_EQ(row->provenance, info.provenance);

  store.set_provenance(id, "steps", "200");
  store.set_provenance(id, "vgg_weights", "file");  // upsert
  store.log_metric({id, 10, "train", "", "loss", 0.5, ""});
  store.log_metrics({{id, 200, "test", "real20", "psnr", 21.5, "rgb"},
                     {id, 200, "test", "real20", "ssim", 0.81, "rgb"},
                     {id, 20, "val", "builtin", "psnr", std::nan(""), "rgb"}});
  store.add_artifact(id, "checkpoint", "results/runs/x/final.pt");
  store.add_artifact(id, "config", "results/runs/x/config.toml");
  store.finish_run(id, "completed");

  row = store.run(id);
  ASSERT_TRUE(row.has_value());
  EXPECT_EQ(row->status, "completed");
  EXPECT_FALSE(row->finished_at.empty());
  EXPECT_EQ(row->provenance.at("vgg_weights"), "file");
  EXPECT_EQ(row->provenance.at("steps"), "200");
  EXPECT_EQ(row->provenance.at("dataset"), "builtin-synthetic");

  const auto all = store.metrics(id);
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all[0].name, "loss");
  EXPECT_EQ(all[0].split, "train");
  EXPECT_DOUBLE_EQ(all[0].value, 0.5);
  EXPECT_EQ(all[1].step, 200);
  EXPECT_EQ(all[1].dataset, "real20");
  EXPECT_EQ(all[1].preset, "rgb");
  EXPECT_DOUBLE_EQ(all[1].value, 21.5);
  EXPECT_TRUE(std::isnan(all[3].value));  // NaN survives as NULL -> NaN
  const auto test = store.metrics(id, "test");
  ASSERT_EQ(test.size(), 2u);
  const auto ssim = store.metrics(id, "test", "ssim");
  ASSERT_EQ(ssim.size(), 1u);
  EXPECT_DOUBLE_EQ(ssim[0].value, 0.81);
  EXPECT_EQ(store.metrics(id, "", "psnr").size(), 2u);

  const auto arts = store.artifacts(id);
  ASSERT_EQ(arts.size(), 2u);
  EXPECT_EQ(arts[0].kind, "checkpoint");
  EXPECT_EQ(arts[0].path, "results/runs/x/final.pt");
  EXPECT_EQ(arts[1].kind, "config");

  EXPECT_FALSE(store.run(id + 100).has_value());
  EXPECT_TRUE(store.metrics(id + 100).empty());

  // Errors name the file and what is at fault.
  const std::string missing = error_of([&] { store.finish_run(id + 100, "failed"); });
  EXPECT_NE(missing.find(file.string()), std::string::npos) << missing;
  EXPECT_NE(missing.find(std::to_string(id + 100)), std::string::npos) << missing;
  EXPECT_NE(error_of([&] { store.finish_run(id, "done"); }).find("'done'"), std::string::npos);
  EXPECT_NE(error_of([&] { store.finish_run(id, "running"); }).find("'running'"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              store.log_metric({id, 1, "holdout", "", "psnr", 1, ""});
            }).find("'holdout'"),
            std::string::npos);
  const std::string fk = error_of([&] {
    store.log_metric({id + 100, 1, "test", "", "psnr", 1, ""});
  });
  EXPECT_NE(fk.find("FOREIGN KEY"), std::string::npos) << fk;
  EXPECT_NE(fk.find("run " + std::to_string(id + 100)), std::string::npos) << fk;
  // A failed batch leaves nothing behind (one transaction).
  EXPECT_THROW(store.log_metrics({{id, 300, "test", "wild", "psnr", 20, ""},
                                  {id + 100, 300, "test", "wild", "psnr", 20, ""}}),
               dmgn::StoreError);
  EXPECT_EQ(store.metrics(id).size(), 4u);
}

TEST(RunStore, ReopensKeepsDataVersionsSchemaAndMoves) {
  const fs::path dir = dmgn::testing::scratch("store_reopen");
  const fs::path file = dir / "nested" / "deeper" / "runs.sqlite";  // parents are created
  int64_t id = 0;
  {
    RunStore store(file);
    EXPECT_EQ(store.schema_version(), 7);
    EXPECT_EQ(RunStore::kSchemaVersion, 7);
    id = store.begin_run(make_info("table1", "RDMC"));
    store.log_metric({id, 5, "test", "wild", "ssim", 0.9, "y"});
    store.finish_run(id, "interrupted");
  }
  ASSERT_TRUE(fs::exists(file));
  {
    RunStore reopened(file);
    EXPECT_EQ(reopened.schema_version(), 7);
    const auto row = reopened.run(id);
    ASSERT_TRUE(row.has_value());
    EXPECT_EQ(row->status, "interrupted");
    EXPECT_EQ(row->variant, "RDMC");
    ASSERT_EQ(reopened.metrics(id).size(), 1u);
    EXPECT_DOUBLE_EQ(reopened.metrics(id)[0].value, 0.9);

    RunStore moved(std::move(reopened));  // movable
    EXPECT_EQ(moved.path(), file);
    const int64_t id2 = moved.begin_run(make_info("table1", "Coarse"));
    EXPECT_GT(id2, id);
    RunStore other(dir / "other.sqlite");
    other = std::move(moved);
    EXPECT_EQ(other.path(), file);
    EXPECT_EQ(other.runs().size(), 2u);
  }

  auto exec = [&](const char* sql) {
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(file.string().c_str(), &raw), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(raw, sql, nullptr, nullptr, nullptr), SQLITE_OK) << sql;
    sqlite3_close(raw);
  };
  // A version-1 file (before the benchmarks table) is migrated in place, keeping its runs.
  exec("DROP TABLE study_votes; DROP TABLE study_subjects; DROP TABLE study_images; DROP TABLE study_samples; "
       "DROP TABLE study_methods; DROP TABLE studies; "
       "DROP TABLE report_verdicts; DROP TABLE reports; DROP TABLE eval_images; DROP TABLE evaluations; "
       "DROP TABLE benchmarks; DELETE FROM schema_version WHERE version >= 2");
  {
    RunStore migrated(file);
    EXPECT_EQ(migrated.schema_version(), 7);
    EXPECT_EQ(migrated.runs().size(), 2u);
    BenchRow b;
    b.bench = "scaling";
    b.name = "images_per_s";
    b.value = 12.5;
    b.unit = "images/s";
    b.params = "world_size=2 global_batch=4";
    b.device = "cpu: test";
    const int64_t bid = migrated.log_bench(b);
    migrated.log_bench(BenchRow{0, "model", "latency_ms", 3.0});
    ASSERT_EQ(migrated.benches("scaling").size(), 1u);
    EXPECT_EQ(migrated.benches().size(), 2u);
    const auto got = migrated.benches("scaling")[0];
    EXPECT_EQ(got.id, bid);
    EXPECT_DOUBLE_EQ(got.value, 12.5);
    EXPECT_EQ(got.params, b.params);
    EXPECT_EQ(got.device, b.device);
    EXPECT_FALSE(got.created_at.empty());

    // delete_metrics: what a crashed run logged after its checkpoint goes; the rest stays.
    const int64_t r = migrated.begin_run(make_info("resume", "x"));
    for (int64_t st = 1; st <= 5; ++st)
      migrated.log_metrics({{r, st, "train", "", "loss", 1.0 * st, ""}, {r, st, "val", "b", "psnr", 2.0 * st, ""}});
    migrated.delete_metrics(r, 5);           // step >= 5, any split
    migrated.delete_metrics(r, 4, {"val"});  // step >= 4, validation only
    std::vector<std::pair<int64_t, std::string>> left;
    for (const auto& m : migrated.metrics(r)) left.emplace_back(m.step, m.split);
    const std::vector<std::pair<int64_t, std::string>> want{
        {1, "train"}, {1, "val"}, {2, "train"}, {2, "val"}, {3, "train"}, {3, "val"}, {4, "train"}};
    EXPECT_EQ(left, want);
    EXPECT_EQ(migrated.metrics(id).size(), 1u);  // other runs untouched
  }

  // A file written by a newer dmgn is refused with a clear message.
  exec("INSERT INTO schema_version(version) VALUES (8)");
  const std::string newer = error_of([&] { RunStore s(file); });
  EXPECT_NE(newer.find("newer"), std::string::npos) << newer;
  EXPECT_NE(newer.find(file.string()), std::string::npos) << newer;
  EXPECT_NE(newer.find("version 8"), std::string::npos) << newer;

  // Something that is not a database: StoreError naming the file.
  const fs::path junk = dir / "junk.sqlite";
  std::ofstream(junk) << std::string(4096, 'x');
  const std::string notdb = error_of([&] { RunStore s(junk); });
  EXPECT_NE(notdb.find(junk.string()), std::string::npos) << notdb;
  EXPECT_NE(notdb.find("not a database"), std::string::npos) << notdb;
}

TEST(RunStore, ReportsKeepProvenanceAndVerdictsAndMigrateFromVersion3) {
  const fs::path dir = dmgn::testing::scratch("store_reports");
  const fs::path file = dir / "runs.sqlite";
  {
    RunStore store(file);
    store.begin_run(make_info("table1", "DMGN"));
  }
  // A version-3 store (before reports) gains the tables in place.
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(file.string().c_str(), &raw), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(raw, "DROP TABLE study_votes; DROP TABLE study_subjects; DROP TABLE study_images; "
                              "DROP TABLE study_samples; DROP TABLE study_methods; DROP TABLE studies; "
                              "DROP TABLE report_verdicts; DROP TABLE reports; DROP INDEX evaluations_origin; "
                              "ALTER TABLE evaluations DROP COLUMN origin; DELETE FROM schema_version WHERE "
                              "version >= 4",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(raw);
  EXPECT_THROW(RunStore(file, RunStore::Access::read_only), dmgn::StoreError);  // older, read-only: refused
  RunStore store(file);
  EXPECT_EQ(store.schema_version(), 7);
  EXPECT_TRUE(store.reports().empty());
  dmgn::store::ReportRecord r;
  r.report = "table1";
  r.sweep = "table1_small";
  r.runs = {3, 1, 2};
  r.provenance = "Table I\nBase model: runs 1 (seeds 0)";
  r.git_revision = "abc123";
  r.verdicts.push_back({"builtin", "psnr", "Base model", "RDMC", 3, 24, 0.5, 0.25, 0.75, "holds", 0.1, 0.2, 0.3});
  r.verdicts.push_back({"builtin", "ssim", "Base model", "RDMC", 0, 0, 0, 0, 0, "not computed", 0, 0, 0});
  const int64_t first = store.log_report(r);
  r.report = "table2";
  r.verdicts.clear();
  const int64_t second = store.log_report(r);
  EXPECT_GT(second, first);
  const auto all = store.reports();
  ASSERT_EQ(all.size(), 2u);
  const auto t1 = store.reports("table1");
  ASSERT_EQ(t1.size(), 1u);
  EXPECT_EQ(t1[0].id, first);
  EXPECT_EQ(t1[0].sweep, "table1_small");
  EXPECT_EQ(t1[0].runs, (std::vector<int64_t>{3, 1, 2}));
  EXPECT_EQ(t1[0].provenance, r.provenance);
  EXPECT_EQ(t1[0].git_revision, "abc123");
  EXPECT_FALSE(t1[0].created_at.empty());
  ASSERT_EQ(t1[0].verdicts.size(), 2u);
  const auto& v = t1[0].verdicts[0];
  EXPECT_EQ(v.dataset, "builtin");
  EXPECT_EQ(v.metric, "psnr");
  EXPECT_EQ(v.a, "Base model");
  EXPECT_EQ(v.b, "RDMC");
  EXPECT_EQ(v.seeds, 3);
  EXPECT_EQ(v.images, 24);
  EXPECT_DOUBLE_EQ(v.mean, 0.5);
  EXPECT_DOUBLE_EQ(v.lo, 0.25);
  EXPECT_DOUBLE_EQ(v.hi, 0.75);
  EXPECT_EQ(v.verdict, "holds");
  EXPECT_DOUBLE_EQ(v.sd_residual, 0.3);
  EXPECT_EQ(t1[0].verdicts[1].verdict, "not computed");
  EXPECT_TRUE(store.reports("table2")[0].verdicts.empty());
  EXPECT_TRUE(store.reports("table5").empty());
}

// Evaluations are their own records: a run's own test ("train") is its result; `dmgn eval`
// results ("eval") are listed apart. A version-5 store, where `dmgn eval` also wrote the run's test
// metrics, loses those rows when migrated, keeps the run's own, and classifies its evaluations.
TEST(RunStore, EvaluationsHaveOriginsAndMigrationRemovesLeakedTestMetrics) {
  const fs::path dir = dmgn::testing::scratch("store_eval_origin");
  const fs::path file = dir / "runs.sqlite";
  int64_t run = 0;
  {
    RunStore store(file);
    run = store.begin_run(make_info("table1", "DMGN"));
    Evaluation own;
    own.run_id = run;
    own.step = 100;
    own.dataset = "builtin";
    own.preset = "real20";
    own.psnr = 20;
    own.provenance = "end_of_training=true root=x";
    own.origin = "train";
    store.log_evaluation(own, {{"a.png", 20, 0.8, 15, 0.7, ""}});
    Evaluation other = own;
    other.dataset = "rain100l";
    other.preset = "rain100";
    other.psnr = 15.11;
    other.provenance = "root=y";
    other.origin = "eval";
    store.log_evaluation(other, {});
    Evaluation cross = other;
    cross.provenance = "root=y cross_data=abc";
    cross.origin = "cross-system";
    store.log_evaluation(cross, {});
    store.log_metrics({{run, 100, "test", "builtin", "psnr", 20, "real20"},
                       {run, 100, "test", "rain100l", "psnr", 15.11, "rain100"},  // what eval used to write
                       {run, 100, "val", "rain100l", "psnr", 15.0, "rain100"}});

    EvalFilter f;
    f.origin = "eval";
    ASSERT_EQ(store.evaluations(f).size(), 1u);
    EXPECT_EQ(store.evaluations(f)[0].dataset, "rain100l");
    f = {};
    f.run_id = run;
    f.preset = "real20";
    ASSERT_EQ(store.evaluations(f).size(), 1u);
    EXPECT_EQ(store.evaluations(f)[0].origin, "train");
    f = {};
    f.dataset = "rain100l";
    EXPECT_EQ(store.evaluations(f).size(), 2u);
  }
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(file.string().c_str(), &raw), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(raw,
                         "DROP INDEX evaluations_origin; ALTER TABLE evaluations DROP COLUMN origin; "
                         "DELETE FROM schema_version WHERE version >= 6",
                         nullptr, nullptr, nullptr),
            SQLITE_OK)
      << sqlite3_errmsg(raw);
  sqlite3_close(raw);
  RunStore migrated(file);
  EXPECT_EQ(migrated.schema_version(), 7);
  std::vector<std::string> origins;
  for (const auto& e : migrated.evaluations()) origins.push_back(e.origin);
  EXPECT_EQ(origins, (std::vector<std::string>{"train", "eval", "cross-system"}));
  const auto test = migrated.final_metrics(run, "test");
  ASSERT_EQ(test.size(), 1u);  // the run's own test only
  EXPECT_EQ(test[0].dataset, "builtin");
  EXPECT_EQ(migrated.metrics(run, "val").size(), 1u);  // other splits untouched
}

TEST(RunStore, FiltersRunsInIdOrder) {
  RunStore store(dmgn::testing::scratch("store_filter") / "runs.sqlite");
  const int64_t a = store.begin_run(make_info("table1", "DMGN", "hash-a"));
  const int64_t b = store.begin_run(make_info("table1", "RDMC", "hash-b"));
  auto c_info = make_info("table2", "DMGN", "hash-a");
  c_info.sweep = "sweepB";
  const int64_t c = store.begin_run(c_info);
  const int64_t d = store.begin_run(make_info("table1", "DMGN", "hash-d"));
  store.finish_run(a, "completed");
  store.finish_run(d, "failed");

  const auto ids = [](const std::vector<dmgn::store::RunRow>& rows) {
    std::vector<int64_t> out;
    for (const auto& r : rows) out.push_back(r.id);
    return out;
  };
  EXPECT_EQ(ids(store.runs()), (std::vector<int64_t>{a, b, c, d}));
  RunFilter f;
  f.experiment = "table1";
  EXPECT_EQ(ids(store.runs(f)), (std::vector<int64_t>{a, b, d}));
  f.variant = "DMGN";
  EXPECT_EQ(ids(store.runs(f)), (std::vector<int64_t>{a, d}));
  f.status = "completed";
  EXPECT_EQ(ids(store.runs(f)), (std::vector<int64_t>{a}));
  RunFilter by_hash;
  by_hash.config_hash = "hash-a";
  EXPECT_EQ(ids(store.runs(by_hash)), (std::vector<int64_t>{a, c}));
  RunFilter by_sweep;
  by_sweep.sweep = "sweepB";
  EXPECT_EQ(ids(store.runs(by_sweep)), (std::vector<int64_t>{c}));
  RunFilter none;
  none.variant = "nope";
  EXPECT_TRUE(store.runs(none).empty());
  // Provenance comes along with filtered rows.
  EXPECT_EQ(store.runs(f).at(0).provenance.at("vgg_weights"), "random");
}

TEST(RunStore, SeveralProcessesWriteOneFileAtOnce) {
  const fs::path file =
      dmgn::testing::scratch("store_concurrent") / "runs.sqlite";  // created by the racers
  constexpr int kProcs = 4;
  constexpr int kRows = 1000;
  int go[2];
  ASSERT_EQ(pipe(go), 0);
  std::vector<pid_t> kids;
  for (int p = 0; p < kProcs; ++p) {
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(go[1]);
      char c;
      (void)!read(go[0], &c, 1);  // start line: returns when the parent closes the pipe
      int code = 0;
      try {
        RunStore store(file);
        const int64_t id = store.begin_run(make_info("concurrent", "p" + std::to_string(p)));
        store.set_provenance(id, "worker", std::to_string(p));
        for (int i = 0; i < kRows; ++i)  // one write transaction each: maximal contention
          store.log_metric({id, i, "train", "", "loss", p * 1000.0 + i, ""});
        store.finish_run(id, "completed");
      } catch (const std::exception& e) {
        fprintf(stderr, "worker %d: %s\n", p, e.what());
        code = 1;
      }
      _exit(code);
    }
    kids.push_back(pid);
  }
  close(go[0]);
  close(go[1]);  // go
  for (pid_t pid : kids) {
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << "a writer failed (see its stderr)";
  }

  RunStore store(file);
  RunFilter f;
  f.experiment = "concurrent";
  const auto runs = store.runs(f);
  ASSERT_EQ(runs.size(), static_cast<size_t>(kProcs));
  std::set<std::string> workers;
  for (const auto& r : runs) {
    EXPECT_EQ(r.status, "completed");
    const int p = std::stoi(r.provenance.at("worker"));
    workers.insert(r.provenance.at("worker"));
    const auto ms = store.metrics(r.id);
    ASSERT_EQ(ms.size(), static_cast<size_t>(kRows));
    std::set<int64_t> steps;
    for (const auto& m : ms) {
      steps.insert(m.step);
      EXPECT_DOUBLE_EQ(m.value, p * 1000.0 + static_cast<double>(m.step));
    }
    EXPECT_EQ(steps.size(), static_cast<size_t>(kRows));
  }
  EXPECT_EQ(workers.size(), static_cast<size_t>(kProcs));
  EXPECT_EQ(store.schema_version(), RunStore::kSchemaVersion);  // migrated exactly once despite the race
}

TEST(RunStore, FormatRunsListsAlignedColumns) {
  RunStore store(dmgn::testing::scratch("store_format") / "runs.sqlite");
  auto info = make_info("table1", "DMGN", "feedfacecafebeef0123456789");
  info.provenance["steps"] = "200";
  info.provenance["epochs"] = "3";
  const int64_t a = store.begin_run(info);
  store.log_metrics({{a, 100, "test", "builtin", "psnr", 18.0, "rgb"},
                     {a, 200, "test", "builtin", "psnr", 19.256, "rgb"},
                     {a, 200, "test", "builtin", "ssim", 0.71234, "rgb"}});
  store.finish_run(a, "completed");
  const int64_t b = store.begin_run(make_info("quickstart", "", "short"));

  const std::string text = dmgn::store::format_runs(store.runs(), store);
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  ASSERT_EQ(lines.size(), 3u) << text;
  EXPECT_EQ(lines[0].rfind("ID", 0), 0u);
  EXPECT_EQ(lines[1].rfind(std::to_string(a) + " ", 0), 0u) << text;
  EXPECT_EQ(lines[2].rfind(std::to_string(b) + " ", 0), 0u) << text;
  for (const char* s :
       {"completed", "table1/DMGN", "reflection", "200", "builtin", "19.26", "0.712",
        "feedfacecafe", "dataset=builtin-synthetic", "epochs=3", "vgg_weights=random"})
    EXPECT_NE(lines[1].find(s), std::string::npos) << s << " missing in: " << lines[1];
  EXPECT_EQ(lines[1].find("feedfacecafeb"), std::string::npos) << "hash not cut at 12";
  EXPECT_EQ(lines[1].find("steps="), std::string::npos) << "steps has its own column";
  // Its row says running, but no process holds its lock (store/liveness.h): shown as died.
  EXPECT_NE(lines[2].find("died"), std::string::npos) << lines[2];
  EXPECT_NE(lines[2].find("quickstart"), std::string::npos);
  // Aligned: the HASH column starts at the same display column in the header and each row
  // (display column = UTF-8 code points before it; a missing value is the 1-column "–").
  const auto display_col = [](const std::string& line, size_t byte) {
    size_t n = 0;
    for (size_t i = 0; i < byte; ++i) n += (static_cast<unsigned char>(line[i]) & 0xC0) != 0x80;
    return n;
  };
  const size_t col = display_col(lines[0], lines[0].find("HASH"));
  EXPECT_EQ(display_col(lines[1], lines[1].find("feedfacecafe")), col);
  EXPECT_EQ(display_col(lines[2], lines[2].find("short")), col);
  EXPECT_NE(lines[2].find("–"), std::string::npos);

  const std::string empty = dmgn::store::format_runs({}, store);
  EXPECT_NE(empty.find("(no runs)"), std::string::npos);
}

TEST(RunStore, LastMetricAndFiltersUseTheSplitNameIndex) {
  const fs::path dir = dmgn::testing::scratch("store_last_metric");
  RunStore store(dir / "runs.sqlite");
  const int64_t a = store.begin_run(make_info("table1", "DMGN"));
  const int64_t b = store.begin_run(make_info("table1", "RDMC"));
  store.log_metrics({{a, 10, "train", "", "it_per_s", 3.0, ""},
                     {a, 20, "train", "", "it_per_s", 4.0, ""},
                     {a, 20, "train", "", "it_per_s", 5.0, ""},  // same step, logged later: this one
                     {a, 15, "train", "", "it_per_s", 9.0, ""},  // an earlier step logged after
                     {a, 20, "val", "real20", "psnr", 20.0, ""},
                     {b, 30, "train", "", "it_per_s", 7.0, ""}});
  const auto last = store.last_metric(a, "train", "it_per_s");
  ASSERT_TRUE(last);
  EXPECT_EQ(last->step, 20);
  EXPECT_DOUBLE_EQ(last->value, 5.0);
  EXPECT_FALSE(store.last_metric(a, "test", "psnr"));
  EXPECT_FALSE(store.last_metric(99, "train", "it_per_s"));
  EXPECT_EQ(store.metrics(a).size(), 5u);
  EXPECT_EQ(store.metrics(a, "train").size(), 4u);
  EXPECT_EQ(store.metrics(a, "", "psnr").size(), 1u);
  EXPECT_EQ(store.metrics(a, "val", "psnr").size(), 1u);
  EXPECT_EQ(store.metrics(a, "train")[3].step, 15);  // logging order

  // Migration 7: the (run, split, name, step) index replaces the run-only one, and the queries
  // use it.
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open((dir / "runs.sqlite").string().c_str(), &raw), SQLITE_OK);
  const auto column_3 = [&](const std::string& sql) {  // every row's 4th column (a plan's detail), a line each
    sqlite3_stmt* q = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(raw, sql.c_str(), -1, &q, nullptr), SQLITE_OK) << sql;
    std::string text;
    while (sqlite3_step(q) == SQLITE_ROW)
      text += reinterpret_cast<const char*>(sqlite3_column_text(q, 3)) + std::string("\n");
    sqlite3_finalize(q);
    return text;
  };
  const std::string indexes = column_3("SELECT type, name, tbl_name, name FROM sqlite_master WHERE type = 'index' "
                                         "AND tbl_name = 'metrics'");
  EXPECT_EQ(indexes, "metrics_run_split_name\n");
  const std::string plan = column_3("EXPLAIN QUERY PLAN SELECT * FROM metrics WHERE run_id = 1 AND split = 'train' "
                                      "AND name = 'it_per_s' ORDER BY step DESC, rowid DESC LIMIT 1");
  EXPECT_NE(plan.find("metrics_run_split_name"), std::string::npos) << plan;
  EXPECT_EQ(plan.find("TEMP B-TREE"), std::string::npos) << plan;  // ordered by the index, no sort
  sqlite3_close(raw);
}
