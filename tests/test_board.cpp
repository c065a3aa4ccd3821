// dmgn board: its views over a store written here row by row, and its HTTP rules (the page in a
// real browser is tests/python/check_board_browser.py).
#ifdef DMGN_WITH_STUDY_SERVER
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "board/api.h"
#include "board/views.h"
#include "core/file_lock.h"
#include "store/liveness.h"
#include "store/run_store.h"
#include "test_util.h"
#include "web/server.h"
#include "web_test_util.h"

namespace fs = std::filesystem;
using dmgn::board::json;
using dmgn::store::Metric;
using dmgn::store::RunInfo;
using dmgn::store::RunStore;

namespace {

// A resolved config's text as a run stores it: the swept weights, the seed, a [runtime] table.
std::string config_text(double p, double adv, int64_t seed, const std::string& variant) {
  return fmt::format(
      "[loss.terms.adv_r]\nweight = {}\n\n[loss.terms.p_c]\nweight = {}\n\n[loss.terms.p_r]\nweight = {}\n\n"
      "[model]\nwidths = [4, 8]\n\n[run]\nseed = {}\nvariant = \"{}\"\n\n[runtime]\nstore = \"x.sqlite\"\n",
      adv == 0 ? "0.0" : fmt::format("{}", adv), p == 0 ? "0.0" : fmt::format("{}", p * 0.5),
      p == 0 ? "0.0" : fmt::format("{}", p), seed, variant);
}

int64_t add_run(RunStore& store, const fs::path& dir, const std::string& sweep, const std::string& variant,
                int64_t seed, const std::string& config) {
  RunInfo info;
  info.config_hash = fmt::format("{:064d}", seed);
  info.experiment = "fig6";
  info.sweep = sweep;
  info.variant = variant;
  info.seed = seed;
  info.config_text = config;
  const int64_t id = store.begin_run(info);
  const fs::path run_dir = dir / fmt::format("run{}", id);
  fs::create_directories(run_dir);
  store.set_run_dir(id, run_dir.string());
  return id;
}

void test_scores(RunStore& store, int64_t id, double psnr, double ssim) {
  store.log_metrics({{id, 4, "test", "builtin", "psnr", psnr, "real20"},
                     {id, 4, "test", "builtin", "ssim", ssim, "real20"},
                     {id, 4, "test", "builtin", "psnr_input", 15.0, "real20"},
                     {id, 4, "test", "builtin", "ssim_input", 0.7, "real20"}});
}

const json& cell_at(const json& cells, const std::string& x, const std::string& y) {
  for (const auto& c : cells)
    if (c["x"] == x && c["y"] == y) return c;
  throw std::runtime_error("no cell " + x + ", " + y);
}

dmgn::web::Request get(const std::string& path, std::map<std::string, std::string> query = {}) {
  return {"GET", path, std::move(query), ""};
}

}  // namespace

TEST(Board, FlattensAResolvedConfigWithoutItsRuntimeTable) {
  const auto flat = dmgn::board::flatten_config(
      "[model]\ncell = \"rdmc\"\nwidths = [4, 8]\n[model.refine.ndm]\nalpha = 0.5\nenabled = true\n"
      "[loss]\nweights = [0.1, 1.0, 2e-5]\nname = 'a\"b'\n"
      "[runtime]\nstore = \"a\"\n");
  const std::vector<std::pair<std::string, std::string>> want = {{"loss.name", R"("a\"b")"},
                                                                 {"loss.weights", "[0.1, 1.0, 2e-05]"},
                                                                 {"model.cell", "\"rdmc\""},
                                                                 {"model.refine.ndm.alpha", "0.5"},
                                                                 {"model.refine.ndm.enabled", "true"},
                                                                 {"model.widths", "[4, 8]"}};
  EXPECT_EQ(flat, want);
  EXPECT_TRUE(dmgn::board::flatten_config("[model\nbroken").empty());
}

TEST(Board, RunsShowLiveStatusStepsEtaAndFinalScores) {
  const fs::path dir = dmgn::testing::scratch("board_runs");
  RunStore store(dir / "runs.sqlite");
  const int64_t live = add_run(store, dir, "", "DMGN", 0, config_text(0.1, 0.01, 0, "DMGN"));
  store.set_provenance(live, "total_steps", "1000");
  store.log_metrics({{live, 100, "train", "", "loss", 0.5, ""}, {live, 100, "train", "", "it_per_s", 5.0, ""},
                     {live, 200, "train", "", "loss", 0.4, ""}, {live, 200, "train", "", "it_per_s", 4.0, ""},
                     {live, 200, "val", "builtin", "psnr", 17.5, "real20"}});
  auto lock = dmgn::FileLock::try_acquire(dmgn::store::run_lock_path(store.run(live)->run_dir));
  ASSERT_TRUE(lock);
  const int64_t dead = add_run(store, dir, "", "DMGN", 1, config_text(0.1, 0.01, 1, "DMGN"));  // nobody holds its lock
  store.log_metrics({{dead, 10, "train", "", "it_per_s", 4.0, ""}});
  store.set_provenance(dead, "total_steps", "1000");
  const int64_t done = add_run(store, dir, "", "DMGN", 2, config_text(0.1, 0.01, 2, "DMGN"));
  store.set_provenance(done, "steps", "300");
  test_scores(store, done, 18.25, 0.8);
  store.finish_run(done, "completed");

  const json runs = dmgn::board::runs_view(store)["runs"];
  ASSERT_EQ(runs.size(), 3u);
  EXPECT_EQ(runs[0]["status"], "running");
  EXPECT_EQ(runs[0]["step"], 200);
  EXPECT_EQ(runs[0]["total_steps"], 1000);
  EXPECT_DOUBLE_EQ(runs[0]["it_per_s"].get<double>(), 4.0);
  EXPECT_DOUBLE_EQ(runs[0]["eta_s"].get<double>(), 200.0);  // (1000 - 200) / 4
  EXPECT_EQ(runs[0]["val"][0]["psnr"], 17.5);
  EXPECT_EQ(runs[1]["status"], "died");
  EXPECT_TRUE(runs[1]["eta_s"].is_null());
  EXPECT_EQ(runs[2]["status"], "completed");
  EXPECT_EQ(runs[2]["step"], 300);
  EXPECT_EQ(runs[2]["total_steps"], 300);
  EXPECT_EQ(runs[2]["test"][0]["dataset"], "builtin");
  EXPECT_EQ(runs[2]["test"][0]["psnr"], 18.25);
  EXPECT_EQ(runs[2]["test"][0]["psnr_input"], 15.0);
  lock.reset();
  EXPECT_EQ(dmgn::board::runs_view(store)["runs"][0]["status"], "died");

  const json curves = dmgn::board::curves_view(store, live);
  EXPECT_EQ(curves["train"]["loss"], json::parse("[[100, 0.5], [200, 0.4]]"));
  EXPECT_EQ(curves["val"]["builtin psnr"], json::parse("[[200, 17.5]]"));
  EXPECT_THROW(dmgn::board::run_view(store, 99), std::out_of_range);

  // A long run's curve is thinned to every k-th point, its last kept, and says so.
  std::vector<Metric> many;
  for (int64_t step = 1; step <= 2500; ++step) many.push_back({done, step, "train", "", "loss", 1.0 / step, ""});
  store.log_metrics(many);
  const json thin = dmgn::board::curves_view(store, done);
  const json& loss = thin["train"]["loss"];
  ASSERT_EQ(loss.size(), 834u);  // steps 1, 4, ..., 2500: every 3rd of 2,500 (ceil(2500 / 1000) = 3)
  EXPECT_EQ(loss[1][0], 4);
  EXPECT_EQ(loss.back()[0], 2500);
  EXPECT_EQ(thin["thinned"]["train loss"], 2500);
}

TEST(Board, SweepGridAxesHeatMapAndConfigDifferences) {
  const fs::path dir = dmgn::testing::scratch("board_sweep");
  RunStore store(dir / "runs.sqlite");
  std::map<std::tuple<double, double, int64_t>, int64_t> id;
  double psnr = 17.0;
  for (double p : {0.0, 0.1})
    for (double adv : {0.0, 0.01})
      for (int64_t seed : {0, 1}) {
        const std::string variant = fmt::format("alpha_p={} alpha_adv={}", p, adv);
        const int64_t run = add_run(store, dir, "grid", variant, seed, config_text(p, adv, seed, variant));
        test_scores(store, run, psnr += 0.5, 0.75);
        store.finish_run(run, "completed");
        id[{p, adv, seed}] = run;
      }
  // A second attempt of one point that failed: the grid keeps the completed run, counts both.
  const std::string first = "alpha_p=0 alpha_adv=0";
  const int64_t failed = add_run(store, dir, "grid", first, 0, config_text(0, 0, 0, first));
  store.finish_run(failed, "failed");

  const json s = dmgn::board::sweep_view(store, "grid");
  EXPECT_EQ(s["seeds"], json::parse("[0, 1]"));
  EXPECT_EQ(s["variants"].size(), 4u);
  EXPECT_EQ(s["grid"].size(), 8u);
  for (const auto& cell : s["grid"]) {
    EXPECT_EQ(cell["status"], "completed");
    if (cell["variant"] == "alpha_p=0 alpha_adv=0" && cell["seed"] == 0) {
      EXPECT_EQ(cell["run"], id.at(std::make_tuple(0.0, 0.0, int64_t{0})));
      EXPECT_EQ(cell["attempts"], 2);
    }
  }
  // p_r and p_c vary together: one axis, named by the key with the shorter values.
  ASSERT_EQ(s["axes"].size(), 2u);
  EXPECT_EQ(s["axes"][0]["keys"], json::parse(R"(["loss.terms.adv_r.weight"])"));
  EXPECT_EQ(s["axes"][1]["keys"], json::parse(R"(["loss.terms.p_r.weight", "loss.terms.p_c.weight"])"));
  EXPECT_EQ(s["axes"][1]["values"], json::parse(R"(["0.0", "0.1"])"));
  const json& h = s["heat_map"];
  ASSERT_TRUE(h.is_object()) << s.dump();
  EXPECT_EQ(h["cells"].size(), 4u);
  const json& c = cell_at(h["cells"], "0.01", "0.1");  // x = adv, y = p
  EXPECT_EQ(c["n"], 2);
  // Its runs' PSNRs were 17.0 + 0.5 * (their order): the 7th and 8th, 20.5 and 21.0.
  EXPECT_DOUBLE_EQ(c["psnr"].get<double>(), 20.75);
  EXPECT_NEAR(c["psnr_sd"].get<double>(), std::sqrt(0.125), 1e-12);
  EXPECT_DOUBLE_EQ(c["psnr_input"].get<double>(), 15.0);

  // A run's config rows: the swept keys and the seed differ from the sweep's common values.
  const json run = dmgn::board::run_view(store, id.at(std::make_tuple(0.1, 0.01, int64_t{1})));
  std::vector<std::string> differs;
  for (const auto& row : run["config"])
    if (row.contains("sweep_common")) differs.push_back(row["key"]);
  const std::vector<std::string> want = {"loss.terms.adv_r.weight", "loss.terms.p_c.weight", "loss.terms.p_r.weight",
                                         "run.seed", "run.variant"};
  EXPECT_EQ(differs, want);
  EXPECT_EQ(run["sweep_runs"], 9);
  for (const auto& row : run["config"]) EXPECT_NE(row["key"].get<std::string>().rfind("runtime.", 0), 0u);

  EXPECT_THROW(dmgn::board::sweep_view(store, "nope"), std::out_of_range);
  const json sweeps = dmgn::board::sweeps_view(store)["sweeps"];
  ASSERT_EQ(sweeps.size(), 1u);
  EXPECT_EQ(sweeps[0]["runs"], 9);
  EXPECT_EQ(sweeps[0]["status"]["completed"], 8);
  EXPECT_EQ(sweeps[0]["status"]["failed"], 1);
}

TEST(Board, ApiNeedsItsTokenOnlyReadsAndNamesImagesByIndex) {
  const fs::path dir = dmgn::testing::scratch("board_api");
  const fs::path file = dir / "runs.sqlite";
  int64_t run = 0;
  {
    RunStore store(file);
    run = add_run(store, dir, "", "DMGN", 0, config_text(0, 0, 0, "DMGN"));
    const fs::path samples = dir / "samples" / "builtin";
    for (const char* part : {"input", "output", "gt"}) {
      fs::create_directories(samples / part);
      std::ofstream(samples / part / "a.png") << "\x89PNG-" << part;
    }
    dmgn::store::Evaluation e;
    e.run_id = run;
    e.dataset = "builtin";
    e.origin = "train";
    store.log_evaluation(e, {{"a.png", 20, 0.8, 15, 0.7, (samples / "output" / "a.png").string()},
                             {"missing.png", 20, 0.8, 15, 0.7, (samples / "output" / "missing.png").string()}});
    // A dump whose manifest names a file outside its folder: never listed.
    fs::create_directories(dir / "dump");
    std::ofstream(dir / "dump" / "s_input.png") << "\x89PNG-dump";
    std::ofstream(dir / "secret.png") << "secret";
    std::ofstream(dir / "dump" / "manifest.json")
        << R"({"step": 4, "dataset": "builtin", "samples": [{"id": "s", "input": "s_input.png", )"
        << R"("background": "../secret.png", "target": "/etc/passwd"}]})";
    store.add_artifact(run, "visualize", (dir / "dump" / "manifest.json").string());
  }
  const std::string token = "0123456789abcdef";
  const dmgn::board::Api api(file, token, dir / "no-d3.js");
  const auto call = [&](const std::string& path, std::map<std::string, std::string> q = {}) {
    return api.handle(get(path, std::move(q)));
  };
  EXPECT_EQ(call("/").status, 200);  // the page itself holds no data
  EXPECT_NE(call("/").body.find("dmgn board"), std::string::npos);
  EXPECT_EQ(call("/api/runs").status, 403);
  EXPECT_EQ(call("/api/runs", {{"t", "0123456789abcdeF"}}).status, 403);
  EXPECT_EQ(call("/api/runs", {{"t", token}}).status, 200);
  EXPECT_EQ(api.handle({"POST", "/api/runs", {{"t", token}}, "{}"}).status, 405);
  EXPECT_EQ(call("/api/nothing", {{"t", token}}).status, 404);
  EXPECT_EQ(call("/runs.sqlite", {{"t", token}}).status, 404);
  EXPECT_EQ(call("/api/run", {{"t", token}, {"id", "x"}}).status, 400);
  EXPECT_EQ(call("/api/run", {{"t", token}}).status, 400);
  EXPECT_EQ(call("/api/run", {{"t", token}, {"id", "42"}}).status, 404);
  EXPECT_EQ(call("/d3.min.js").status, 404);  // not installed at that path: said, not served
  EXPECT_NE(call("/d3.min.js").body.find("libjs-d3"), std::string::npos);

  // The images: the evaluation's existing input, output and ground truth, then the dump's one
  // file of its own folder.
  const json view = json::parse(call("/api/run", {{"t", token}, {"id", std::to_string(run)}}).body);
  ASSERT_EQ(view["images"].size(), 4u) << view["images"].dump();
  EXPECT_EQ(call("/img", {{"t", token}, {"run", std::to_string(run)}, {"k", "0"}}).file,
            dir / "samples" / "builtin" / "input" / "a.png");
  EXPECT_EQ(call("/img", {{"t", token}, {"run", std::to_string(run)}, {"k", "3"}}).file, dir / "dump" / "s_input.png");
  EXPECT_EQ(call("/img", {{"t", token}, {"run", std::to_string(run)}, {"k", "4"}}).status, 404);
  EXPECT_EQ(call("/img", {{"t", token}, {"run", std::to_string(run)}, {"k", "../secret.png"}}).status, 400);
  EXPECT_EQ(call("/img", {{"run", std::to_string(run)}, {"k", "0"}}).status, 403);
}

TEST(Board, ServesOverHttpOnLoopback) {
  const fs::path dir = dmgn::testing::scratch("board_http");
  { RunStore store(dir / "runs.sqlite"); }
  const dmgn::board::Api api(dir / "runs.sqlite", "feedc0de");
  dmgn::testing::LoopbackServer server([&api](const dmgn::web::Request& r) { return api.handle(r); });
  auto& client = server.client();
  const auto page = client.Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_EQ(page->get_header_value("X-Frame-Options"), "DENY");
  const auto runs = client.Get("/api/runs?t=feedc0de");
  ASSERT_TRUE(runs);
  EXPECT_EQ(runs->status, 200);
  EXPECT_EQ(runs->get_header_value("Cache-Control"), "no-store");
  EXPECT_EQ(json::parse(runs->body)["runs"].size(), 0u);
  EXPECT_EQ(client.Get("/img?run=1&k=..%2F..%2Fruns.sqlite&t=feedc0de")->status, 400);
  server.stop();
  EXPECT_TRUE(dmgn::web::is_loopback("127.0.0.1"));
  EXPECT_TRUE(dmgn::web::is_loopback("::1"));
  EXPECT_FALSE(dmgn::web::is_loopback("0.0.0.0"));
}

#endif  // DMGN_WITH_STUDY_SERVER
