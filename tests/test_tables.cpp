// Paper tables II-VII and the seed statistics / ordering check of Table I, from a RunStore.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/error.h"
#include "report/paper_table.h"
#include "report/tables.h"
#include "store/run_store.h"
#include "proc_util.h"
#include "test_util.h"

namespace fs = std::filesystem;
using dmgn::report::Format;

namespace {

// A completed run with a real config text (so seeds group by configuration) and test metrics
// (dataset, psnr, ssim).
int64_t add_run(dmgn::store::RunStore& store, const std::string& experiment, const std::string& variant,
                int64_t seed, const std::vector<std::tuple<std::string, double, double>>& tests,
                const std::vector<std::string>& extra = {}, const std::string& sweep = "") {
  std::vector<std::string> sets = {"run.experiment=\"" + experiment + "\"", "run.variant=\"" + variant + "\"",
                                   "run.seed=" + std::to_string(seed), "run.sweep=\"" + sweep + "\""};
  sets.insert(sets.end(), extra.begin(), extra.end());
  const auto cfg = dmgn::Config::defaults(sets);
  dmgn::store::RunInfo info;
  info.experiment = experiment;
  info.variant = variant;
  info.sweep = sweep;
  info.seed = seed;
  info.config_text = cfg.canonical();
  info.config_hash = cfg.hash();
  info.provenance = {{"dataset", "real"}, {"vgg_weights", "file"}, {"steps", "100"}};
  const int64_t id = store.begin_run(info);
  for (const auto& [dataset, psnr, ssim] : tests)
    store.log_metrics({{id, 100, "test", dataset, "psnr", psnr, "real20"},
                       {id, 100, "test", dataset, "ssim", ssim, "real20"}});
  store.finish_run(id, "completed");
  return id;
}

bool contains(const std::string& s, const std::string& needle) { return s.find(needle) != std::string::npos; }

}  // namespace

TEST(Tables, SeedsOfTheLatestConfigurationAreAveragedAndTheOrderingIsChecked) {
  const fs::path dir = dmgn::testing::scratch("tables_seeds");
  dmgn::store::RunStore store(dir / "runs.sqlite");
  // An older RDMC configuration (other step budget): superseded, not averaged in.
  add_run(store, "table1", "RDMC", 0, {{"builtin", 40.0, 0.99}}, {"train.max_steps=7"});
  for (int64_t seed : {0, 1, 2}) {
    add_run(store, "table1", "Base model", seed, {{"builtin", 20.0 + static_cast<double>(seed), 0.80}});
    add_run(store, "table1", "RDMC", seed, {{"builtin", 21.0 + static_cast<double>(seed), 0.81}});
  }
  // The same seed again: the latest run of that seed counts, once.
  add_run(store, "table1", "RDMC", 2, {{"builtin", 23.0, 0.81}});
  // Another sweep's DMGN run: excluded by --sweep.
  add_run(store, "table1", "DMGN", 0, {{"builtin", 10.0, 0.5}}, {}, "other");

  dmgn::report::ReportOptions o;
  const auto t = dmgn::report::build_report_table(store, "table1", o);
  const auto& base = t.rows[0];
  ASSERT_EQ(base.label, "Base model");
  const auto& col = t.columns.back();
  ASSERT_EQ(col.id, "builtin");
  const size_t c = t.columns.size() - 1;
  ASSERT_TRUE(base.cells[c][0].ours.has_value());
  EXPECT_DOUBLE_EQ(*base.cells[c][0].ours, 21.0);
  EXPECT_DOUBLE_EQ(base.cells[c][0].ours_std, 1.0);
  EXPECT_EQ(base.cells[c][0].ours_n, 3);
  EXPECT_EQ(base.seeds, (std::vector<int64_t>{0, 1, 2}));
  const auto& rdmc = t.rows[1];
  EXPECT_DOUBLE_EQ(*rdmc.cells[c][0].ours, 22.0);  // 21, 22, 23: not the 40 of the old config
  EXPECT_EQ(rdmc.cells[c][0].ours_n, 3);
  EXPECT_EQ(rdmc.run_ids.size(), 3u);

  const std::string md = dmgn::report::render_report_table(store, "table1", Format::markdown, o);
  EXPECT_TRUE(contains(md, "| 21.00 ± 1.00 | 0.800 ± 0.000 |")) << md;
  EXPECT_TRUE(contains(md, "runs ")) << md;
  EXPECT_TRUE(contains(md, "(seeds 0, 1, 2)")) << md;
  EXPECT_TRUE(contains(md, "Base model (21.00 +- 1.00) < RDMC (22.00 +- 1.00): holds (within one std), in 3 of 3 seeds"))
      << md;
  EXPECT_TRUE(contains(md, "R-RDMC")) << md;
  const std::string tex = dmgn::report::render_report_table(store, "table1", Format::latex, o);
  EXPECT_TRUE(contains(tex, "21.00 $\\pm$ 1.00")) << tex;
  const std::string csv = dmgn::report::render_report_table(store, "table1", Format::csv, o);
  EXPECT_TRUE(contains(csv, "builtin_psnr_ours_std")) << csv;

  // --sweep: only that sweep's runs.
  o.sweep = "other";
  const auto other = dmgn::report::build_report_table(store, "table1", o);
  EXPECT_FALSE(other.rows[0].run.has_value());
  EXPECT_DOUBLE_EQ(*other.rows[4].cells.back()[0].ours, 10.0);  // DMGN
}

TEST(Tables, PerColumnModelsCrossTaskDiagonalAndEmptyStores) {
  const fs::path dir = dmgn::testing::scratch("tables_cross");
  {
    // Every table renders from an empty store in every format: paper numbers, dashes for ours.
    dmgn::store::RunStore empty(dir / "empty.sqlite");
    for (const auto& id : dmgn::report::table_ids())
      for (Format f : {Format::markdown, Format::csv, Format::latex}) {
        const std::string text = dmgn::report::render_report_table(empty, id, f);
        EXPECT_FALSE(text.empty()) << id;
        // Every row of the paper's CSV is a row of the table (the registry's paper dir).
        if (f == Format::markdown)
          for (const auto& label : dmgn::report::load_paper_csv(dmgn::report::paper_dir_of(id) / (id + ".csv")).methods())
            EXPECT_TRUE(contains(text, "| " + label + " |")) << id << ": " << label << "\n" << text;
      }
    // The study tables (Table IV) have no spec from runs; every registered table has a paper CSV.
    for (const auto& id : dmgn::report::table_ids_all()) {
      EXPECT_TRUE(fs::exists(dmgn::report::paper_dir_of(id) / (id + ".csv"))) << id;
      if (dmgn::report::table_def(id).from_study) EXPECT_THROW(dmgn::report::table_spec(id), dmgn::ConfigError) << id;
    }
    EXPECT_THROW(dmgn::report::table_spec("table4"), dmgn::ConfigError);
  }
  dmgn::store::RunStore store(dir / "runs.sqlite");
  // Table V: one model per benchmark, both labelled DMGN.
  const int64_t l = add_run(store, "table5", "DMGN", 0, {{"rain100l", 38.1, 0.98}});
  const int64_t h = add_run(store, "table5", "DMGN", 0, {{"rain100h", 29.9, 0.90}}, {"train.max_steps=9"});
  const std::string t5 = dmgn::report::render_report_table(store, "table5", Format::csv);
  EXPECT_TRUE(contains(t5, "DMGN,38.53,38.10,0.0000,1,0.983,0.980,0.00000,1,30.72,29.90")) << t5;
  EXPECT_TRUE(contains(t5, std::to_string(l) + " " + std::to_string(h))) << t5;

  // Table VI columns map to the store ids of datasets.csv.
  add_run(store, "table6", "DMGN", 0, {{"sots_indoor", 33.0, 0.97}, {"dcpdn_testa", 30.0, 0.95}});
  const std::string t6 = dmgn::report::render_report_table(store, "table6", Format::markdown);
  EXPECT_TRUE(contains(t6, "| DMGN | 35.33 | 33.00 | 0.986 | 0.970 | 28.99 | – |")) << t6;

  // Table VII: the DMGN row is the diagonal of the three task models.
  add_run(store, "table7", "DMGN (trained on reflection)", 0,
          {{"real20", 22.0, 0.80}, {"rain100h", 15.0, 0.50}, {"ohaze", 14.0, 0.60}});
  add_run(store, "table7", "DMGN (trained on rain)", 0,
          {{"real20", 18.0, 0.70}, {"rain100h", 28.0, 0.88}, {"ohaze", 15.0, 0.61}});
  add_run(store, "table7", "DMGN (trained on haze)", 0,
          {{"real20", 17.0, 0.69}, {"rain100h", 16.0, 0.52}, {"ohaze", 24.0, 0.90}});
  const std::string t7 = dmgn::report::render_report_table(store, "table7", Format::markdown);
  EXPECT_TRUE(contains(t7, "| DMGN | 23.05 | 22.00 | 0.823 | 0.800 | 30.72 | 28.00 | 0.903 | 0.880 | 25.11 | 24.00 | "
                           "0.910 | 0.900 |"))
      << t7;
  EXPECT_TRUE(contains(t7, "| DMGN (trained on rain) | n/a | 18.00 | n/a | 0.700 | n/a | 28.00 |")) << t7;
  EXPECT_TRUE(contains(t7, "| ERRNet | 22.86 | – |")) << t7;
  EXPECT_TRUE(contains(t7, "ours is the diagonal")) << t7;

  // Table III from `dmgn bench model` rows at the chosen size.
  dmgn::store::BenchRow b;
  b.bench = "model";
  b.config_hash = "abc";
  b.device = "cpu: test (2 cores)";
  const std::string who = "experiment=table3 variant=\"DMGN\" threads=2";
  for (auto [name, value, params] : std::vector<std::tuple<std::string, double, std::string>>{
           {"parameters", 65.5e6, who},
           {"macs", 466.9e9, who + " size=256"},
           {"latency_ms", 1234.0, who + " size=256 repeats=20 warmup=3"},
           {"macs", 1867.6e9, who + " size=512"},
           {"latency_ms", 5000.0, who + " size=512 repeats=20 warmup=3"}}) {
    b.name = name;
    b.value = value;
    b.params = params;
    store.log_bench(b);
  }
  const std::string t3 = dmgn::report::render_report_table(store, "table3", Format::markdown);
  EXPECT_TRUE(contains(t3, "| DMGN | 232.5 | 466.9 | 0.066 | 1.234 | n/a | 65.50 | config abc; cpu: test (2 cores), 2 "
                           "thread(s); 256x256 |"))
      << t3;
  EXPECT_TRUE(contains(t3, "| IBCLN | 289.2 | – | 0.071 | – |")) << t3;
  dmgn::report::ReportOptions big;
  big.size = 512;
  EXPECT_TRUE(contains(dmgn::report::render_report_table(store, "table3", Format::markdown, big), "| 1867.6 |"));
}

TEST(Tables, DatasetIdsFileIsValidated) {
  const fs::path dir = dmgn::testing::scratch("tables_ids");
  std::ofstream(dir / "ok.csv") << "paper_name,dataset_id\nWild,sir2_wild\n\"Indoor (SOTS)\",sots_indoor\n";
  const auto ids = dmgn::report::load_dataset_ids(dir / "ok.csv");
  EXPECT_EQ(ids.at("Wild"), "sir2_wild");
  EXPECT_EQ(ids.at("Indoor (SOTS)"), "sots_indoor");
  EXPECT_TRUE(dmgn::report::load_dataset_ids(dir / "absent.csv").empty());
  std::ofstream(dir / "dup.csv") << "paper_name,dataset_id\nWild,a\nWild,b\n";
  try {
    dmgn::report::load_dataset_ids(dir / "dup.csv");
    FAIL() << "duplicate accepted";
  } catch (const dmgn::DataError& e) {
    EXPECT_TRUE(contains(e.what(), "dup.csv:3")) << e.what();
  }
  std::ofstream(dir / "head.csv") << "name,id\n";
  EXPECT_THROW(dmgn::report::load_dataset_ids(dir / "head.csv"), dmgn::DataError);
  // The shipped file maps every dataset column of the shipped paper tables.
  const auto shipped = dmgn::report::load_dataset_ids(fs::path(DMGN_SOURCE_DIR) / "reports/paper/datasets.csv");
  for (const char* name : {"Real20", "Wild", "Solid", "Postcard", "Rain100L", "Rain100H", "Indoor (SOTS)",
                           "Outdoor (SOTS)", "O-HAZE", "TestA-DCPDN"})
    EXPECT_TRUE(shipped.count(name)) << name;
}

TEST(Tables, BenchModelRowsFillTableThree) {
  const fs::path dir = dmgn::testing::scratch("tables_bench");
  std::vector<std::string> args = {"bench", "model", "experiments/table1/dmgn.toml", "--sizes", "32,48",
                                   "--repeats", "3", "--warmup", "1", "--train-steps", "1", "--train-size", "32",
                                   "--fwd-bwd-repeats", "1", "--precision", "fp32,bf16"};
  for (const auto& s : dmgn::testing::tiny_run(dir)) args.insert(args.end(), {"--set", s});
  args.insert(args.end(), {"--set", "run.experiment=\"table3\""});
  auto c = dmgn::testing::spawn_dmgn(args, (dir / "bench.log").string());
  ASSERT_EQ(dmgn::testing::wait_child(c, 300), 0) << dmgn::testing::read_text(c.log);
  const std::string out = dmgn::testing::read_text(c.log);
  EXPECT_TRUE(contains(out, "  32x32  : ")) << out;
  EXPECT_TRUE(contains(out, "ms median")) << out;
  EXPECT_TRUE(contains(out, "ms per step (G + critic + losses + Adam) at batch 4 x 32x32")) << out;
  EXPECT_TRUE(contains(out, "of measured GEMM")) << out;
  dmgn::store::RunStore store(dir / "runs.sqlite");
  int latency = 0;
  double fp32_at_48 = 0;
  for (const auto& b : store.benches("model")) {
    latency += b.name == "latency_ms";
    if (b.name == "latency_ms") {
      EXPECT_GT(b.value, 0.0);
      if (contains(b.params, "precision=fp32") && contains(b.params, "size=48")) fp32_at_48 = b.value;
    }
    EXPECT_TRUE(contains(b.params, "experiment=table3 variant=\"DMGN\"")) << b.params;
  }
  EXPECT_EQ(latency, 4);  // 2 sizes x fp32, bf16
  dmgn::report::ReportOptions o;
  o.size = 48;
  const auto t = dmgn::report::build_report_table(store, "table3", o);
  const auto& dmgn_row = t.rows.back();
  ASSERT_EQ(dmgn_row.label, "DMGN");
  EXPECT_TRUE(dmgn_row.cells[0][0].ours.has_value());  // GMACs at 48
  ASSERT_TRUE(dmgn_row.cells[0][1].ours.has_value());  // seconds at 48: the fp32 row, not bf16
  EXPECT_DOUBLE_EQ(*dmgn_row.cells[0][1].ours, fp32_at_48 / 1000.0);
  EXPECT_GT(*dmgn_row.cells[0][2].ours, 0.0);          // parameters (M)
  o.size = 64;                                          // not benchmarked at 64: a dash
  EXPECT_FALSE(dmgn::report::build_report_table(store, "table3", o).rows.back().cells[0][0].ours.has_value());
}

// Table III's rows in one process: several configs measured one after another, each stored under
// its own variant (DMGN, ERRNet and IBCLN at full size in practice; two small systems here). A
// config that does not load stops the command before anything is measured.
TEST(Tables, BenchModelMeasuresSeveralConfigsInOneRun) {
  const fs::path dir = dmgn::testing::scratch("tables_bench_many");
  const std::string store = (dir / "runs.sqlite").string();
  std::vector<std::string> args = {"bench", "model", "experiments/prenet/base.toml", "experiments/gcanet/base.toml",
                                   "--sizes", "16", "--repeats", "1", "--warmup", "0", "--train-steps", "0",
                                   "--fwd-bwd-repeats", "0", "--no-peak", "--set", "model.channels=4",
                                   "--set", "run.experiment=\"table3\"", "--set", "runtime.threads=1",
                                   "--set", "runtime.store=\"" + store + "\""};
  auto c = dmgn::testing::spawn_dmgn(args, (dir / "bench.log").string());
  ASSERT_EQ(dmgn::testing::wait_child(c, 300), 0) << dmgn::testing::read_text(c.log);
  const std::string out = dmgn::testing::read_text(c.log);
  EXPECT_TRUE(contains(out, "== experiments/prenet/base.toml (1 of 2)")) << out;
  EXPECT_TRUE(contains(out, "== experiments/gcanet/base.toml (2 of 2)")) << out;
  std::map<std::string, int> latency_by_variant;
  for (const auto& b : dmgn::store::RunStore(store).benches("model"))
    if (b.name == "latency_ms")
      for (const char* v : {"PReNet", "GCANet"})
        if (contains(b.params, std::string("variant=\"") + v + "\"")) ++latency_by_variant[v];
  EXPECT_EQ(latency_by_variant["PReNet"], 1);
  EXPECT_EQ(latency_by_variant["GCANet"], 1);

  const std::string store2 = (dir / "runs2.sqlite").string();
  std::vector<std::string> bad = {"bench", "model", "experiments/prenet/base.toml", "experiments/no_such.toml",
                                  "--sizes", "16", "--no-peak", "--set", "runtime.store=\"" + store2 + "\""};
  auto b = dmgn::testing::spawn_dmgn(bad, (dir / "bad.log").string());
  EXPECT_NE(dmgn::testing::wait_child(b, 120), 0);
  EXPECT_TRUE(contains(dmgn::testing::read_text(b.log), "no_such.toml")) << dmgn::testing::read_text(b.log);
  EXPECT_FALSE(fs::exists(store2)) << "measured before every config loaded";
}
