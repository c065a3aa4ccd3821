// Location-aware SIRR's tables from the store (report/tables.h: sirr_table1-3, derived columns)
// and `dmgn report cross-system` (train/cross_eval.h): DMGN and Location-aware SIRR on one test
// set under both papers' conventions.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "core/config.h"
#include "report/render_table.h"
#include "report/tables.h"
#include "proc_util.h"
#include "process_test.h"
#include "store/run_store.h"
#include "test_util.h"

namespace fs = std::filesystem;

namespace {

const std::string kSirrReportBase = std::string(DMGN_SOURCE_DIR) + "/experiments/location_sirr/base.toml";

int64_t add_sirr_run(dmgn::store::RunStore& store, const std::string& variant,
                     const std::vector<std::pair<std::string, double>>& psnr) {
  const auto cfg = dmgn::Config::load(kSirrReportBase, {"run.variant=\"" + variant + "\""});
  dmgn::store::RunInfo info;
  info.experiment = "location_sirr";
  info.variant = variant;
  info.config_text = cfg.canonical();
  info.config_hash = cfg.hash();
  info.provenance = {{"dataset", "real"}, {"vgg_weights", "file"}, {"steps", "100"}};
  const int64_t id = store.begin_run(info);
  for (const auto& [dataset, p] : psnr)
    store.log_metrics({{id, 100, "test", dataset, "psnr", p, "location_sirr"},
                       {id, 100, "test", dataset, "ssim", p / 30.0, "location_sirr"}});
  store.finish_run(id, "completed");
  return id;
}

bool contains(const std::string& s, const std::string& needle) { return s.find(needle) != std::string::npos; }

size_t column(const dmgn::report::PaperVsOurs& t, const std::string& id) {
  for (size_t c = 0; c < t.columns.size(); ++c)
    if (t.columns[c].id == id) return c;
  ADD_FAILURE() << "no column " << id;
  return 0;
}

TEST(SirrTables, AveragesAreImageWeightedMeansOfTheirTestSets) {
  const fs::path dir = dmgn::testing::scratch("sirr_tables");
  dmgn::store::RunStore store(dir / "runs.sqlite");
  add_sirr_run(store, "Ours", {{"sir2_postcard", 20}, {"sir2_solid", 22}, {"sir2_wild", 24}, {"real20", 21},
                               {"nature", 23}});
  add_sirr_run(store, "w/o TSM", {{"sir2_postcard", 19}, {"sir2_solid", 21}, {"sir2_wild", 23}, {"real20", 20}});
  const auto t1 = dmgn::report::build_report_table(store, "sirr_table1");
  const auto& ours = t1.rows.back();
  ASSERT_EQ(ours.label, "Ours");
  const size_t avg = column(t1, "average_494");
  EXPECT_EQ(t1.columns[avg].label, "Average(494)");
  EXPECT_TRUE(t1.columns[avg].in_paper);
  ASSERT_TRUE(ours.cells[avg][0].ours.has_value());
  EXPECT_NEAR(*ours.cells[avg][0].ours, (199 * 20.0 + 200 * 22.0 + 55 * 24.0 + 20 * 21.0 + 20 * 23.0) / 494, 1e-9);
  EXPECT_DOUBLE_EQ(*ours.cells[avg][0].paper, 24.179);
  EXPECT_DOUBLE_EQ(*ours.cells[column(t1, "sir2_solid")][1].paper, 0.898);  // "Object" = SIR^2 solid objects
  EXPECT_DOUBLE_EQ(*ours.cells[column(t1, "nature")][0].ours, 23.0);        // "Li et al." = Nature

  const auto t2 = dmgn::report::build_report_table(store, "sirr_table2");
  const size_t sir2 = column(t2, "sir2_all");
  EXPECT_EQ(t2.columns[sir2].label, "SIR^2");
  const auto& wo_tsm = t2.rows[1];
  ASSERT_EQ(wo_tsm.label, "w/o TSM");
  EXPECT_NEAR(*wo_tsm.cells[sir2][0].ours, (199 * 19.0 + 200 * 21.0 + 55 * 23.0) / 454, 1e-9);
  EXPECT_DOUBLE_EQ(*wo_tsm.cells[sir2][0].paper, 23.304);
  // A run without the Nature set has no 494-image average (nothing is invented) ...
  const auto t1b = dmgn::report::build_report_table(store, "sirr_table1");
  add_sirr_run(store, "Ours", {{"sir2_postcard", 20}});
  const auto t1c = dmgn::report::build_report_table(store, "sirr_table1");
  EXPECT_FALSE(t1c.rows.back().cells[column(t1c, "average_494")][0].ours.has_value());
  EXPECT_EQ(t2.spec.orderings.size(), 9u);  // every ablation row against "Ours"
  EXPECT_EQ(dmgn::report::build_report_table(store, "sirr_table3").spec.orderings.size(), 7u);
  // ... and the three formats carry the paper's numbers and ours.
  for (const auto fmt : {dmgn::report::Format::markdown, dmgn::report::Format::latex, dmgn::report::Format::csv}) {
    const auto text = dmgn::report::render(t1b, fmt);
    EXPECT_TRUE(contains(text, "24.179")) << text;
    EXPECT_TRUE(contains(text, fmt == dmgn::report::Format::csv ? "average_494_psnr_ours" : "Average(494)")) << text;
    EXPECT_FALSE(contains(text, "sir2_all")) << text;  // Table 2/3's SIR^2 column is not Table 1's
    EXPECT_TRUE(contains(text, "21.417")) << text;  // Ours' weighted mean: 10580 / 494
  }
}

class CrossSystem : public dmgn::testing::ProcessTest {};

TEST_F(CrossSystem, DmgnAndLocationAwareSirrOnTheSameTestSetUnderBothConventions) {
  const auto dir = dmgn::testing::scratch("cross_system");
  const std::string store = (dir / "runs.sqlite").string();
  auto common = [&](std::vector<std::string> v) {
    for (const std::string& s :
         {"data.crop=32", "data.builtin.train_pairs=8", "data.builtin.heldout_pairs=3", "data.builtin.heldout_size=32",
          "data.workers=0", "train.max_steps=2", "train.val_every=0", "train.checkpoint_every=0", "runtime.threads=1",
          "runtime.progress=false"})
      v.push_back(s);
    v.push_back("runtime.store=\"" + store + "\"");
    v.push_back("runtime.out_dir=\"" + (dir / "runs").string() + "\"");
    return v;
  };
  auto sirr = common({"model.width=4", "model.hidden=8", "model.ae_widths=[4, 8, 8]", "loss.perceptual.taps=[2]",
                      "loss.perceptual.weights=[1.0]", "discriminator.ndf=4", "discriminator.layers=2"});
  const auto a = dmgn::testing::spawn_dmgn(dmgn::testing::with_sets({"train", kSirrReportBase}, sirr),
                                           (dir / "sirr.log").string());
  ASSERT_EQ(dmgn::testing::wait_child(a, 300), 0) << dmgn::testing::read_text(a.log);
  const auto b = dmgn::testing::spawn_dmgn(
      dmgn::testing::with_sets({"train", dmgn::testing::kBaseConfig}, common(dmgn::testing::tiny_model())),
      (dir / "dmgn.log").string());
  ASSERT_EQ(dmgn::testing::wait_child(b, 300), 0) << dmgn::testing::read_text(b.log);

  // Default runs: the latest of each model, by model name ("dmgn" first, whose config opens the
  // test set for both).
  const auto first = dmgn::testing::dmgn_shell("report cross-system --store " + store);
  ASSERT_EQ(first.code, 0) << first.out;
  for (const char* s : {"Input (identity)", "dmgn", "location_sirr", "PSNR (real20: DMGN / ERRNet)",
                        "SSIM (location_sirr: Location-aware SIRR)", "4 evaluation(s) computed now, 0 reused",
                        "Test set: 'builtin', 3 images"})
    EXPECT_TRUE(contains(first.out, s)) << s << "\n" << first.out;
  EXPECT_FALSE(contains(first.out, "WARNING")) << first.out;  // the same inputs for both systems
  // Stored: the second call computes nothing; CSV has one line per system plus identity.
  const auto again = dmgn::testing::dmgn_shell("report cross-system --store " + store + " --format csv");
  ASSERT_EQ(again.code, 0) << again.out;
  EXPECT_TRUE(contains(again.out, "0 evaluation(s) computed now, 4 reused")) << again.out;
  EXPECT_TRUE(contains(again.out, "System,Run,Step,PSNR (real20: DMGN / ERRNet)")) << again.out;
  dmgn::store::RunStore s(store);
  EXPECT_EQ(s.evaluations().size(), 4u + 2u);  // the two runs' own test evaluations + 4
  // Bad input: an unknown convention or run is one clear line, nothing written.
  const auto bad = dmgn::testing::dmgn_shell("report cross-system --store " + store + " --metric nope");
  EXPECT_NE(bad.code, 0);
  EXPECT_TRUE(contains(bad.out, "unknown metric preset 'nope'")) << bad.out;
  const auto missing = dmgn::testing::dmgn_shell("report cross-system --store " + store + " --run 99");
  EXPECT_NE(missing.code, 0);
  EXPECT_TRUE(contains(missing.out, "run 99 is not in")) << missing.out;
  EXPECT_EQ(s.evaluations().size(), 6u);
}

}  // namespace
