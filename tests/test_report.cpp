// Reports: paper CSV loader, and Table I (paper vs ours) rendered from a RunStore.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <vector>

#include "core/config.h"
#include "core/error.h"
#include "report/paired.h"
#include "report/paper_csv.h"
#include "report/render_table.h"
#include "report/tables.h"
#include "systems/dmgn/tables.h"
#include "store/run_store.h"
#include "test_util.h"

namespace fs = std::filesystem;
using dmgn::report::Format;

namespace {

fs::path table1_csv() {
#ifdef DMGN_SOURCE_DIR
  return fs::path(DMGN_SOURCE_DIR) / "framework/systems/dmgn/paper/table1.csv";
#else
  return fs::path("framework/systems/dmgn/paper/table1.csv");  // tests run from the repository root
#endif
}

// Table I of the paper: label, Real20 PSNR/SSIM, Wild PSNR/SSIM (as printed).
struct PaperLine {
  std::string method, real20_psnr, real20_ssim, wild_psnr, wild_ssim;
};
const std::vector<PaperLine> kTable1 = {
    {"Base model", "20.62", "0.760", "23.78", "0.852"},
    {"RDMC", "21.96", "0.792", "24.42", "0.882"},
    {"R-RDMC", "22.63", "0.801", "24.73", "0.885"},
    {"Coarse", "22.49", "0.798", "24.12", "0.867"},
    {"DMGN", "23.05", "0.823", "25.18", "0.894"},
    {"w/o L_adv", "22.66", "0.811", "24.05", "0.825"},
    {"w/o L_p", "20.83", "0.747", "22.32", "0.796"},
    {"Complete losses", "23.05", "0.823", "25.18", "0.894"},
};

std::vector<std::string> split(const std::string& s, const std::string& sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t pos; (pos = s.find(sep, start)) != std::string::npos; start = pos + sep.size())
    out.push_back(s.substr(start, pos - start));
  out.push_back(s.substr(start));
  return out;
}

// A Markdown table parsed into row label -> column header -> cell text.
struct MdTable {
  std::vector<std::string> header;
  std::vector<std::string> order;  // row labels in order
  std::map<std::string, std::map<std::string, std::string>> cells;
};

MdTable parse_markdown(const std::string& md) {
  MdTable t;
  std::istringstream in(md);
  bool rows_seen = false;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("| ", 0) != 0) continue;
    auto fields = split(line.substr(2, line.size() - 4), " | ");
    if (t.header.empty()) {
      t.header = fields;
      continue;
    }
    rows_seen = true;
    t.order.push_back(fields[0]);
    for (size_t i = 0; i < fields.size() && i < t.header.size(); ++i)
      t.cells[fields[0]][t.header[i]] = fields[i];
    EXPECT_EQ(fields.size(), t.header.size()) << line;
  }
  EXPECT_TRUE(rows_seen) << md;
  return t;
}

// The CSV rendering parsed into row label -> column -> cell (footer "# " lines skipped).
std::map<std::string, std::map<std::string, std::string>> parse_csv(const std::string& csv) {
  std::map<std::string, std::map<std::string, std::string>> out;
  std::istringstream in(csv);
  std::vector<std::string> header;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("# ", 0) == 0) continue;
    const auto fields = dmgn::report::split_csv_line(line, "rendered.csv", 0);
    if (header.empty()) {
      header = fields;
      continue;
    }
    EXPECT_EQ(fields.size(), header.size()) << line;
    for (size_t i = 0; i < fields.size() && i < header.size(); ++i)
      out[fields[0]][header[i]] = fields[i];
  }
  return out;
}


const char* const kDash = "–";

}  // namespace

TEST(PaperCsv, LoadsTable1TranscriptionAndRejectsMalformedFiles) {
  const auto table = dmgn::report::load_paper_csv(table1_csv());
  EXPECT_EQ(table.metrics, (std::vector<std::string>{"psnr", "ssim"}));
  EXPECT_EQ(table.datasets(), (std::vector<std::string>{"Real20", "Wild"}));
  ASSERT_EQ(table.rows.size(), 16u);
  std::vector<std::string> methods;
  for (const auto& p : kTable1) {
    methods.push_back(p.method);
    EXPECT_DOUBLE_EQ(*table.value(p.method, "Real20", "psnr"), std::stod(p.real20_psnr))
        << p.method;
    EXPECT_DOUBLE_EQ(*table.value(p.method, "Real20", "ssim"), std::stod(p.real20_ssim))
        << p.method;
    EXPECT_DOUBLE_EQ(*table.value(p.method, "Wild", "psnr"), std::stod(p.wild_psnr)) << p.method;
    EXPECT_DOUBLE_EQ(*table.value(p.method, "Wild", "ssim"), std::stod(p.wild_ssim)) << p.method;
  }
  EXPECT_EQ(table.methods(), methods);  // the paper's row order
  EXPECT_FALSE(table.value("DMGN", "Solid", "psnr").has_value());

  const fs::path dir = dmgn::testing::scratch("report_csv");
  const auto write = [&](const std::string& name, const std::string& text) {
    const fs::path p = dir / name;
    std::ofstream(p) << text;
    return p;
  };
  // Quoting, blank lines, "n/a" and empty cells are accepted.
  const auto ok = dmgn::report::load_paper_csv(write(
      "ok.csv", "method,dataset,psnr,ssim\n\n\"A, quoted\",Real20, 20.5 ,n/a\nB,Wild,,0.9\n"));
  ASSERT_EQ(ok.rows.size(), 2u);
  EXPECT_EQ(ok.rows[0].method, "A, quoted");
  EXPECT_EQ(ok.rows[0].line, 3);
  EXPECT_DOUBLE_EQ(*ok.value("A, quoted", "Real20", "psnr"), 20.5);
  EXPECT_FALSE(ok.value("A, quoted", "Real20", "ssim").has_value());
  EXPECT_FALSE(ok.value("B", "Wild", "psnr").has_value());

  struct Bad {
    std::string name, text, needle;
  };
  const std::vector<Bad> bad = {
      {"number.csv", "method,dataset,psnr,ssim\nA,Real20,20.1,0.8\nB,Wild,2x.5,0.8\n",
       "number.csv:3: psnr value '2x.5' is not a number"},
      {"fields.csv", "method,dataset,psnr,ssim\nA,Real20,20.1\n",
       "fields.csv:2: expected 4 fields"},
      {"header.csv", "name,dataset,psnr\nA,Real20,20.1\n", "header.csv:1: header"},
      {"dup.csv", "method,dataset,psnr,ssim\nA,Real20,1,0.1\n\nA,Real20,2,0.2\n",
       "dup.csv:4: duplicate"},
      {"empty_method.csv", "method,dataset,psnr,ssim\n,Real20,1,0.1\n",
       "empty_method.csv:2: empty method"},
      {"quote.csv", "method,dataset,psnr,ssim\n\"A,Real20,1,0.1\n", "quote.csv:2: unterminated"},
      {"nothing.csv", "", "nothing.csv:1: empty file"},
  };
  for (const auto& b : bad) {
    const fs::path p = write(b.name, b.text);
    const std::string msg = dmgn::testing::error_of<dmgn::DataError>([&] { dmgn::report::load_paper_csv(p); });
    EXPECT_NE(msg.find(b.needle), std::string::npos) << b.name << ": " << msg;
    EXPECT_NE(msg.find(p.string()), std::string::npos) << b.name << ": " << msg;
  }
  const std::string missing =
      dmgn::testing::error_of<dmgn::IoError>([&] { dmgn::report::load_paper_csv(dir / "absent.csv"); });
  EXPECT_NE(missing.find("absent.csv"), std::string::npos) << missing;

  // A paper CSV without a metric Table I needs is refused, naming the file.
  const fs::path no_ssim = write("no_ssim.csv", "method,dataset,psnr\nDMGN,Real20,23.05\n");
  dmgn::store::RunStore store(dir / "runs.sqlite");
  const std::string need = dmgn::testing::error_of<dmgn::DataError>(
      [&] { dmgn::report::render_table1(store, no_ssim, Format::markdown); });
  EXPECT_NE(need.find("no_ssim.csv"), std::string::npos) << need;
  EXPECT_NE(need.find("'ssim'"), std::string::npos) << need;

  EXPECT_EQ(dmgn::report::parse_format("md"), Format::markdown);
  EXPECT_EQ(dmgn::report::parse_format("latex"), Format::latex);
  EXPECT_EQ(dmgn::report::parse_format("csv"), Format::csv);
  EXPECT_THROW(dmgn::report::parse_format("html"), dmgn::ConfigError);
}

TEST(Table1, EmptyStoreShowsPaperNumbersAndDashesOnly) {
  dmgn::store::RunStore store(dmgn::testing::scratch("report_empty") / "runs.sqlite");
  const std::string md = dmgn::report::render_table1(store, table1_csv(), Format::markdown);
  const MdTable t = parse_markdown(md);
  ASSERT_EQ(t.order.size(), kTable1.size()) << md;
  // Paper columns only: 4 per dataset (paper/ours x PSNR/SSIM) + method + provenance.
  EXPECT_EQ(t.header.size(), 2u + 2 * 4u) << md;
  for (size_t i = 0; i < kTable1.size(); ++i) {
    const auto& p = kTable1[i];
    ASSERT_EQ(t.order[i], p.method);
    const auto& row = t.cells.at(p.method);
    EXPECT_EQ(row.at("Real20 PSNR (paper)"), p.real20_psnr);
    EXPECT_EQ(row.at("Real20 SSIM (paper)"), p.real20_ssim);
    EXPECT_EQ(row.at("Wild PSNR (paper)"), p.wild_psnr);
    EXPECT_EQ(row.at("Wild SSIM (paper)"), p.wild_ssim);
    for (const auto& [header, cell] : row) {
      if (header.find("(ours)") != std::string::npos || header == "Provenance of ours") {
        EXPECT_EQ(cell, kDash) << p.method << " / " << header;
      }
    }
  }
  EXPECT_NE(md.find("Paper: numbers transcribed"), std::string::npos);
  EXPECT_NE(md.find("'Complete losses' shows the 'DMGN' run"), std::string::npos);
  EXPECT_EQ(md.find("Caution"), std::string::npos);

  const auto csv = parse_csv(dmgn::report::render_table1(store, table1_csv(), Format::csv));
  ASSERT_EQ(csv.size(), kTable1.size());
  EXPECT_EQ(csv.at("w/o L_p").at("sir2_wild_ssim_paper"), "0.796");
  EXPECT_EQ(csv.at("w/o L_p").at("sir2_wild_ssim_ours"), kDash);
  EXPECT_EQ(csv.at("w/o L_p").at("run_id"), kDash);

  const std::string tex = dmgn::report::render_table1(store, table1_csv(), Format::latex);
  EXPECT_NE(tex.find("\\begin{tabular}"), std::string::npos);
  EXPECT_NE(tex.find("w/o L\\_adv & 22.66 & -- & 0.811 & -- & 24.05 & -- & 0.825 & --"),
            std::string::npos)
      << tex;
  EXPECT_EQ(tex.find(kDash), std::string::npos) << "LaTeX output must be ASCII dashes";
}

TEST(Table1, ShowsOurLatestCompletedRunsBesideThePaper) {
  const fs::path dir = dmgn::testing::scratch("report_ours");
  dmgn::store::RunStore store(dir / "runs.sqlite");
  const auto info = [](const std::string& experiment, const std::string& variant) {
    dmgn::store::RunInfo i;
    i.experiment = experiment;
    i.variant = variant;
    i.config_hash = "h-" + variant;
    i.provenance = {{"dataset", "builtin-synthetic"},
                    {"vgg_weights", "random"},
                    {"steps", "200"},
                    {"epochs", "2"}};
    return i;
  };
  // An older completed DMGN run: superseded by the newer one below.
  const int64_t old_run = store.begin_run(info("table1", "DMGN"));
  store.log_metrics({{old_run, 100, "test", "real20", "psnr", 10.0, "rgb"},
                     {old_run, 100, "test", "sir2_wild", "psnr", 11.0, "rgb"}});
  store.finish_run(old_run, "completed");
  // The one that counts: test metrics on builtin and real20, an early and a final step.
  const int64_t dmgn_run = store.begin_run(info("table1", "DMGN"));
  store.log_metrics({{dmgn_run, 100, "test", "real20", "psnr", 15.0, "rgb"},
                     {dmgn_run, 200, "test", "real20", "psnr", 21.4567, "rgb"},
                     {dmgn_run, 200, "test", "real20", "ssim", 0.81234, "rgb"},
                     {dmgn_run, 200, "test", "builtin", "psnr", 18.0049, "rgb"},
                     {dmgn_run, 200, "test", "builtin", "ssim", 0.7, "rgb"},
                     {dmgn_run, 200, "val", "sir2_wild", "psnr", 99.0, "rgb"},  // not the test split
                     {dmgn_run, 200, "train", "", "loss", 0.1, ""}});
  store.finish_run(dmgn_run, "completed");
  // Ignored: still running, failed, or not experiment table1.
  const int64_t running = store.begin_run(info("table1", "DMGN"));
  store.log_metric({running, 300, "test", "real20", "psnr", 30.0, "rgb"});
  const int64_t failed = store.begin_run(info("table1", "RDMC"));
  store.log_metric({failed, 300, "test", "real20", "psnr", 31.0, "rgb"});
  store.finish_run(failed, "failed");
  const int64_t other = store.begin_run(info("quickstart", "Coarse"));
  store.log_metric({other, 300, "test", "real20", "psnr", 32.0, "rgb"});
  store.finish_run(other, "completed");
  // A completed Coarse run with real data and pretrained VGG, wild only, no preset.
  auto coarse_info = info("table1", "Coarse");
  coarse_info.provenance = {{"dataset", "real"}, {"vgg_weights", "file"}, {"steps", "5000"}};
  const int64_t coarse = store.begin_run(coarse_info);
  store.log_metric({coarse, 5000, "test", "sir2_wild", "ssim", 0.8666, ""});  // Wild's store id (datasets.csv)
  store.finish_run(coarse, "completed");

  const std::string md = dmgn::report::render_table1(store, table1_csv(), Format::markdown);
  const MdTable t = parse_markdown(md);
  ASSERT_EQ(t.order.size(), kTable1.size()) << md;
  // builtin gets extra "ours" columns after the paper's (no paper side: not in the paper).
  EXPECT_EQ(t.header.size(), 2u + 2 * 4u + 2u) << md;
  EXPECT_EQ(t.header[9], "builtin PSNR (ours)") << md;
  EXPECT_EQ(t.header[10], "builtin SSIM (ours)") << md;

  for (const char* label : {"DMGN", "Complete losses"}) {
    const auto& row = t.cells.at(label);
    EXPECT_EQ(row.at("Real20 PSNR (ours)"), "21.46") << label;
    EXPECT_EQ(row.at("Real20 SSIM (ours)"), "0.812") << label;
    EXPECT_EQ(row.at("Real20 PSNR (paper)"), "23.05") << label;
    EXPECT_EQ(row.at("Wild PSNR (ours)"), kDash) << label;  // val metric and old run ignored
    EXPECT_EQ(row.at("Wild SSIM (ours)"), kDash) << label;
    EXPECT_EQ(row.at("builtin PSNR (ours)"), "18.00") << label;
    EXPECT_EQ(row.at("builtin SSIM (ours)"), "0.700") << label;
    EXPECT_EQ(row.count("builtin PSNR (paper)"), 0u) << label;
    EXPECT_EQ(row.at("Provenance of ours"),
              "run " + std::to_string(dmgn_run) +
                  "; data=builtin-synthetic; steps=200; epochs=2; vgg_weights=random; preset=rgb")
        << label;
  }
  const auto& coarse_row = t.cells.at("Coarse");
  EXPECT_EQ(coarse_row.at("Wild SSIM (ours)"), "0.867");
  EXPECT_EQ(coarse_row.at("Wild SSIM (paper)"), "0.867");
  EXPECT_EQ(coarse_row.at("Real20 PSNR (ours)"), kDash);
  EXPECT_EQ(coarse_row.at("builtin PSNR (ours)"), kDash);
  EXPECT_EQ(coarse_row.at("Provenance of ours"),
            "run " + std::to_string(coarse) +
                "; data=real; steps=5000; epochs=–; vgg_weights=file; preset=–");
  for (const char* label : {"Base model", "RDMC", "R-RDMC", "w/o L_adv", "w/o L_p"})
    for (const auto& [header, cell] : t.cells.at(label)) {
      if (header.find("(ours)") != std::string::npos || header == "Provenance of ours") {
        EXPECT_EQ(cell, kDash) << label << " / " << header;
      }
    }
  for (const char* never : {"30.00", "31.00", "32.00", "10.00", "99.00", "15.00"})
    EXPECT_EQ(md.find(never), std::string::npos) << never << " leaked into: " << md;
  EXPECT_NE(md.find("Caution: run(s) " + std::to_string(dmgn_run) + " used random VGG"),
            std::string::npos)
      << md;

  const auto csv = parse_csv(dmgn::report::render_table1(store, table1_csv(), Format::csv));
  EXPECT_EQ(csv.at("Complete losses").at("real20_psnr_ours"), "21.46");
  EXPECT_EQ(csv.at("Complete losses").at("builtin_ssim_ours"), "0.700");
  EXPECT_EQ(csv.at("Complete losses").at("builtin_ssim_paper"), "n/a");
  EXPECT_EQ(csv.at("DMGN").at("run_id"), std::to_string(dmgn_run));
  EXPECT_EQ(csv.at("DMGN").at("vgg_weights"), "random");
  EXPECT_EQ(csv.at("Coarse").at("sir2_wild_ssim_ours"), "0.867");

  const std::string tex = dmgn::report::render_table1(store, table1_csv(), Format::latex);
  EXPECT_NE(tex.find("DMGN & 23.05 & 21.46 & 0.823 & 0.812 & 25.18 & -- & 0.894 & -- & "
                     "18.00 & 0.700"),
            std::string::npos)
      << tex;
  EXPECT_NE(tex.find("\\multicolumn{2}{c|}{builtin}"), std::string::npos) << tex;
}

TEST(Paired, BootstrapIntervalVerdictAndVarianceParts) {
  using dmgn::report::compare_paired;
  // D = a_s + b_i exactly: no residual; the parts are the sample variances of a and b.
  const std::vector<double> a = {0.1, 0.3, 0.2}, b = {0.5, 0.4, 0.9, 0.6};
  std::vector<std::vector<double>> d(3, std::vector<double>(4));
  for (size_t s = 0; s < 3; ++s)
    for (size_t i = 0; i < 4; ++i) d[s][i] = a[s] + b[i];
  const auto p = compare_paired(d);
  EXPECT_NEAR(p.mean, 0.2 + 0.6, 1e-12);
  EXPECT_NEAR(p.var_residual, 0.0, 1e-12);
  EXPECT_NEAR(p.var_seed, 0.01, 1e-12);          // var(0.1, 0.3, 0.2)
  EXPECT_NEAR(p.var_image, 0.046666666666, 1e-9);  // var(0.5, 0.4, 0.9, 0.6)
  EXPECT_EQ(p.verdict, "holds");
  EXPECT_GT(p.lo, 0.0);
  EXPECT_LT(p.lo, p.mean);
  EXPECT_GT(p.hi, p.mean);
  EXPECT_EQ(compare_paired(d).lo, p.lo);  // a fixed replicate seed: reproducible
  // Centred on zero: not resolved; negated: reversed.
  for (auto& r : d)
    for (auto& v : r) v -= 0.8;
  EXPECT_EQ(compare_paired(d).verdict, "not resolved");
  for (auto& r : d)
    for (auto& v : r) v = -v - 0.5;
  EXPECT_EQ(compare_paired(d).verdict, "reversed");
  // Power: more seeds are needed when the seed part dominates, never fewer with more images.
  dmgn::report::PairedDiff q;
  q.var_seed = 0.04;
  q.var_image = 0.03;
  q.var_residual = 0.01;
  const int s12 = dmgn::report::seeds_needed(q, 12, 0.2), s68 = dmgn::report::seeds_needed(q, 68, 0.2);
  EXPECT_GT(s12, 0);
  EXPECT_LE(s68, s12);
  // 2.8 sqrt(0.04/S + 0.09/12 + 0.01/(12 S)) <= 0.2 first holds at S = ...
  const auto se = [&](int s) { return 2.8016 * std::sqrt(0.04 / s + 0.03 / 12 + 0.01 / (12.0 * s)); };
  EXPECT_LE(se(s12), 0.2);
  if (s12 > 1) EXPECT_GT(se(s12 - 1), 0.2);
  EXPECT_EQ(dmgn::report::seeds_needed(q, 1, 0.2), 0);  // 0.03 per image alone is too much with one image
  // Images needed with a fixed seed count: the smallest I with se <= target; none where the seed
  // part alone is too large.
  const auto se10 = [&](int i) { return 2.8016 * std::sqrt(0.04 / 10 + 0.03 / i + 0.01 / (10.0 * i)); };
  const int i10 = dmgn::report::images_needed(q, 10, 0.2);
  ASSERT_GT(i10, 0);
  EXPECT_LE(se10(i10), 0.2);
  if (i10 > 1) EXPECT_GT(se10(i10 - 1), 0.2);
  EXPECT_EQ(dmgn::report::images_needed(q, 3, 0.2), 0);  // 2.8 * sqrt(0.04 / 3) = 0.32 > 0.2 however many images
}

TEST(Table1, PairedVerdictsFromPerImageTestScores) {
  const fs::path dir = dmgn::testing::scratch("report_paired");
  dmgn::store::RunStore store(dir / "runs.sqlite");
  // Base model and RDMC, seeds 0-2, six test images each: RDMC is 0.5 dB better on every image
  // (plus a little noise) and 0.01 worse in SSIM.
  for (const std::string variant : {"Base model", "RDMC"})
    for (int seed = 0; seed < 3; ++seed) {
      dmgn::store::RunInfo info;
      info.experiment = "table1";
      info.variant = variant;
      info.seed = seed;
      info.config_hash = "h";
      info.config_text = dmgn::Config::defaults({fmt::format("run.seed={}", seed)}).canonical();
      const int64_t id = store.begin_run(info);
      const bool rdmc = variant == "RDMC";
      std::vector<dmgn::store::EvalImage> images;
      double psnr = 0, ssim = 0;
      for (int i = 0; i < 6; ++i) {
        dmgn::store::EvalImage im;
        im.image = fmt::format("builtin/heldout/{}", i);
        im.psnr = 20 + 0.7 * i + 0.2 * seed + (rdmc ? 0.5 + 0.05 * ((i * 7 + seed * 3) % 5 - 2) : 0.0);
        im.ssim = 0.8 + 0.01 * i - (rdmc ? 0.01 : 0.0);
        psnr += im.psnr / 6;
        ssim += im.ssim / 6;
        images.push_back(im);
      }
      store.log_metrics({{id, 10, "test", "builtin", "psnr", psnr, "rgb"}, {id, 10, "test", "builtin", "ssim", ssim, "rgb"}});
      dmgn::store::Evaluation e;
      e.run_id = id;
      e.step = 10;
      e.dataset = "builtin";
      e.split = "test";
      e.samples = 6;
      e.origin = "train";  // the run's own end-of-training test
      store.log_evaluation(e, images);
      store.finish_run(id, "completed");
    }
  for (const auto fmt_ : {Format::markdown, Format::csv, Format::latex}) {
    const std::string out = dmgn::report::render_table1(store, table1_csv(), fmt_);
    EXPECT_NE(out.find("Paired on builtin PSNR, RDMC - Base model: +0.49"), std::string::npos) << out;
    EXPECT_NE(out.find("over 3 seed(s) x 6 image(s): holds"), std::string::npos) << out;
    const std::string pct = fmt_ == Format::latex ? "\\%" : "%";  // escaped in LaTeX
    EXPECT_NE(out.find("Paired on builtin SSIM, RDMC - Base model: -0.0100 [95" + pct +
                       " CI -0.0100, -0.0100] over 3 seed(s) x 6 image(s): reversed"),
              std::string::npos)
        << out;
    EXPECT_NE(out.find("Power (RDMC vs Base model on builtin)"), std::string::npos) << out;
    EXPECT_NE(out.find("; with 3 seeds, "), std::string::npos) << out;
  }
  // What the store keeps of the report: the runs behind it, provenance and the verdicts.
  dmgn::report::ReportOptions o;
  o.paper_dir = table1_csv().parent_path();
  o.sweep = "s";
  const auto table = dmgn::report::build_report_table(store, "table1", o);
  const auto rec = dmgn::report::report_record(table, "table1", o);
  EXPECT_EQ(rec.report, "table1");
  EXPECT_EQ(rec.sweep, "s");
  EXPECT_EQ(rec.runs.size(), 0u);  // sweep "s" has no runs
  const auto all = dmgn::report::report_record(dmgn::report::build_report_table(store, "table1", {table1_csv().parent_path()}),
                                               "table1");
  EXPECT_EQ(all.runs.size(), 6u);
  ASSERT_EQ(all.verdicts.size(), 2u);  // RDMC - Base model on builtin, PSNR and SSIM
  EXPECT_EQ(all.verdicts[0].metric, "psnr");
  EXPECT_EQ(all.verdicts[0].verdict, "holds");
  EXPECT_EQ(all.verdicts[0].seeds, 3);
  EXPECT_EQ(all.verdicts[0].images, 6);
  EXPECT_NEAR(all.verdicts[0].mean, 0.49, 0.02);
  EXPECT_EQ(all.verdicts[1].verdict, "reversed");
  EXPECT_NE(all.provenance.find("RDMC: runs "), std::string::npos) << all.provenance;
  EXPECT_NE(all.provenance.find("Paired on builtin PSNR, RDMC - Base model"), std::string::npos) << all.provenance;
  const int64_t rid = store.log_report(all);
  EXPECT_EQ(store.reports("table1").back().id, rid);
  EXPECT_EQ(store.reports("table1").back().verdicts.size(), 2u);
}

TEST(RenderGrid, CsvCellsAreNeverLiveFormulasAndNumbersStayNumbers) {
  // Text from users (names, sample ids) that a spreadsheet would evaluate gets a leading ';
  // numbers, including negative ones, and other text are written as they are.
  dmgn::report::Grid g;
  g.id = "t";
  g.title = "T";
  g.header = {"=name", "value"};
  const std::vector<std::pair<std::string, std::string>> cells = {
      {R"(=HYPERLINK("http://x","y"))", R"('=HYPERLINK("http://x","y"))"},
      {"+1", "'+1"},
      {"-2+3", "'-2+3"},
      {"@SUM(A1)", "'@SUM(A1)"},
      {"\tx", "'\tx"},
      {"-inf", "'-inf"},
      {"-0.5", "-0.5"},
      {"-12", "-12"},
      {"1e-05", "1e-05"},
      {"-1.5e+06", "-1.5e+06"},
      {"28.31", "28.31"},
      {"22.00 / 0.500", "22.00 / 0.500"},
      {"–", "–"},
      {"a=b", "a=b"},
  };
  for (const auto& [in, _] : cells) g.rows.push_back({in, "-0.25"});
  g.notes = {"=not a cell"};
  const std::string csv = dmgn::report::render_grid(g, Format::csv);
  std::istringstream lines(csv);
  std::string line;
  std::getline(lines, line);
  EXPECT_EQ(dmgn::report::split_csv_line(line, "grid.csv", 1), (std::vector<std::string>{"'=name", "value"}));
  for (const auto& [in, out] : cells) {
    ASSERT_TRUE(std::getline(lines, line)) << csv;
    EXPECT_EQ(dmgn::report::split_csv_line(line, "grid.csv", 2), (std::vector<std::string>{out, "-0.25"})) << line;
  }
  ASSERT_TRUE(std::getline(lines, line));
  EXPECT_EQ(line, "# =not a cell");  // footer lines are comments, not cells
  // The quoting survives the prefix: the formula with quotes and a comma is one quoted field.
  EXPECT_NE(csv.find(R"csv("'=HYPERLINK(""http://x"",""y"")",-0.25)csv"), std::string::npos) << csv;
  // Markdown shows the text as typed.
  EXPECT_NE(dmgn::report::render_grid(g, Format::markdown).find("| +1 | -0.25 |"), std::string::npos);
}
