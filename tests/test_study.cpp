// Blind human studies (dmgn study, Table IV): vote aggregation, the store's study tables and
// their migration, study creation from a run, a folder and the input, the HTTP interface's
// rules (tokens, validation, replaced votes, no path traversal) and the table. The page itself
// is driven in a real browser by tests/python/check_study_browser.py.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>
#include <thread>

#include "data/builtins.h"
#include "data/dataset.h"
#include "data/image_io.h"
#include "proc_util.h"
#include "report/paper_csv.h"
#include "report/table4.h"
#include "store/run_store.h"
#include "store/study_store.h"
#include "study/aggregate.h"
#include "study/create.h"
#include "test_util.h"
#include "train/builtins.h"
#include "train/trainer.h"
#ifdef DMGN_WITH_STUDY_SERVER
#include <httplib.h>

#include "study/api.h"
#include "web_test_util.h"
#endif

namespace fs = std::filesystem;
using dmgn::store::StudyStore;
using dmgn::study::Tally;
using dmgn::study::VoteRecord;

namespace {

// Subject s votes methods[s][sample].
std::vector<VoteRecord> votes_of(const std::vector<std::vector<int64_t>>& methods) {
  std::vector<VoteRecord> v;
  for (size_t s = 0; s < methods.size(); ++s)
    for (size_t i = 0; i < methods[s].size(); ++i)
      if (methods[s][i] >= 0) v.push_back({static_cast<int64_t>(s) + 10, static_cast<int64_t>(i), methods[s][i]});
  return v;
}

}  // namespace

TEST(StudyTally, SharesWinsTiesAndUnvotedSamples) {
  // 3 subjects x 5 samples, 3 methods; sample 4 has no votes.
  const auto votes = votes_of({{0, 0, 2, 0, -1}, {0, 1, 1, 1, -1}, {1, 2, 0, 2, -1}});
  dmgn::study::TallyOptions o;
  o.resamples = 500;
  o.seed = 7;
  const Tally t = dmgn::study::tally(votes, 3, 5, o);
  EXPECT_EQ(t.subjects, 3);
  EXPECT_EQ(t.votes, 12);
  EXPECT_EQ(t.methods[0].votes, 5);
  EXPECT_EQ(t.methods[1].votes, 4);
  EXPECT_EQ(t.methods[2].votes, 3);
  EXPECT_DOUBLE_EQ(t.methods[0].share, 5.0 / 12);
  EXPECT_DOUBLE_EQ(t.methods[0].share + t.methods[1].share + t.methods[2].share, 1.0);
  // Sample 0: 0,0,1 -> 0 wins; 1: 0,1,2 -> tied three ways; 2: 2,1,0 -> tied; 3: 0,1,2 -> tied.
  EXPECT_EQ(t.winner, (std::vector<int64_t>{0, Tally::kTied, Tally::kTied, Tally::kTied, Tally::kNoVotes}));
  EXPECT_EQ(t.methods[0].wins, 1);
  EXPECT_EQ(t.methods[1].wins + t.methods[2].wins, 0);
  EXPECT_EQ(t.tied, 3);
  EXPECT_EQ(t.unvoted, 1);
  for (const auto& m : t.methods) {
    EXPECT_LE(m.lo, m.share);
    EXPECT_GE(m.hi, m.share);
    EXPECT_LT(m.lo, m.hi);  // three different subjects: the resamples differ
  }
  // The same seed gives the same interval; no resamples, no width.
  const Tally again = dmgn::study::tally(votes, 3, 5, o);
  EXPECT_EQ(again.methods[1].lo, t.methods[1].lo);
  EXPECT_EQ(again.methods[1].hi, t.methods[1].hi);
  o.resamples = 0;
  const Tally none = dmgn::study::tally(votes, 3, 5, o);
  EXPECT_EQ(none.methods[2].lo, none.methods[2].share);
  EXPECT_EQ(none.methods[2].hi, none.methods[2].share);
  // A two-way tie at the top is a tie; a clear majority with a tie below it is a win.
  const Tally two = dmgn::study::tally(votes_of({{0, 2}, {1, 2}, {2, 1}, {2, 1}}), 3, 2, {});
  EXPECT_EQ(two.winner, (std::vector<int64_t>{2, Tally::kTied}));
  // One subject: the interval is the share itself.
  const Tally one = dmgn::study::tally(votes_of({{1, 1, 0}}), 2, 3, {});
  EXPECT_DOUBLE_EQ(one.methods[1].lo, 2.0 / 3);
  EXPECT_DOUBLE_EQ(one.methods[1].hi, 2.0 / 3);
  // No votes at all: zero shares, every sample unvoted.
  const Tally empty = dmgn::study::tally({}, 2, 3, {});
  EXPECT_EQ(empty.unvoted, 3);
  EXPECT_EQ(empty.methods[0].share, 0);
}

TEST(StudyTally, RejectsVotesItCannotCount) {
  using dmgn::testing::error_of;
  EXPECT_NE(error_of<dmgn::DataError>([] { dmgn::study::tally({{1, 0, 0}, {1, 0, 1}}, 2, 1); })
                .find("subject 1 has two votes on sample 0"),
            std::string::npos);
  EXPECT_NE(error_of<dmgn::DataError>([] { dmgn::study::tally({{1, 3, 0}}, 2, 3); }).find("names sample 3"),
            std::string::npos);
  EXPECT_NE(error_of<dmgn::DataError>([] { dmgn::study::tally({{1, 0, 2}}, 2, 3); }).find("names method 2"),
            std::string::npos);
}

namespace {

// A study of `samples` x `methods` rows (no files) in `store`.
dmgn::store::Study synthetic_study(const std::string& name, int methods, int samples) {
  dmgn::store::Study s;
  s.name = name;
  s.dataset = "builtin";
  s.seed = 3;
  s.dir = "/nonexistent";
  s.token = "tok";
  s.provenance = "dataset=builtin\nmetric=psnr on rgb";
  for (int m = 0; m < methods; ++m) {
    dmgn::store::StudyMethod x;
    x.position = m;
    x.name = std::string("M") + char('0' + m);
    x.kind = m == 0 ? "input" : "folder";
    x.source = m == 0 ? "" : "/tmp/x";
    s.methods.push_back(x);
  }
  for (int i = 0; i < samples; ++i) {
    s.samples.push_back({i, "id" + std::to_string(i), i, "in" + std::to_string(i) + ".png"});
    for (int m = 0; m < methods; ++m)
      s.images.push_back({i, m, "f" + std::to_string(i) + "_" + std::to_string(m) + ".png", 20.0 + m, 0.5});
  }
  return s;
}

}  // namespace

TEST(StudyStore, VotesReplaceAndTheTablesMigrateFromVersion4) {
  const fs::path dir = dmgn::testing::scratch("study_store");
  const fs::path file = dir / "runs.sqlite";
  int64_t run = 0;
  {
    dmgn::store::RunStore store(file);
    run = store.begin_run({});
  }
  // A version-4 store (before studies) gains the tables in place and keeps its runs.
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(file.string().c_str(), &raw), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(raw,
                         "DROP TABLE study_votes; DROP TABLE study_subjects; DROP TABLE study_images; "
                         "DROP TABLE study_samples; DROP TABLE study_methods; DROP TABLE studies; "
                         "DROP INDEX evaluations_origin; ALTER TABLE evaluations DROP COLUMN origin; "
                         "DELETE FROM schema_version WHERE version >= 5",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(raw);
  EXPECT_THROW(StudyStore(file, StudyStore::Access::read_only), dmgn::StoreError);  // older, read-only: refused
  StudyStore store(file);
  EXPECT_EQ(dmgn::store::RunStore(file).schema_version(), 7);
  EXPECT_TRUE(dmgn::store::RunStore(file).run(run).has_value());
  EXPECT_TRUE(store.list().empty());

  const auto id = store.create(synthetic_study("s1", 3, 4));
  EXPECT_NE(dmgn::testing::error_of<dmgn::ConfigError>([&] { store.create(synthetic_study("s1", 2, 2)); })
                .find("a study named 's1' exists already"),
            std::string::npos);
  const auto s = store.get("s1");
  EXPECT_EQ(s.id, id);
  ASSERT_EQ(s.methods.size(), 3u);
  EXPECT_EQ(s.methods[0].kind, "input");
  ASSERT_EQ(s.samples.size(), 4u);
  EXPECT_EQ(s.samples[2].sample, "id2");
  EXPECT_EQ(s.images.size(), 12u);
  EXPECT_EQ(s.image(3, 2).file, "f3_2.png");
  EXPECT_DOUBLE_EQ(s.image(1, 1).psnr, 21.0);
  EXPECT_NE(dmgn::testing::error_of<dmgn::ConfigError>([&] { store.get("nope"); }).find("known: s1"),
            std::string::npos);

  const auto ann = store.join(id, "Ann", "key-ann");
  EXPECT_EQ(store.join(id, "Ann", "another-key").key, "key-ann");  // a returning subject keeps its key
  const auto bo = store.join(id, "Bo", "key-bo");
  store.cast(id, ann.id, 0, 1, "1,0,2");
  store.cast(id, ann.id, 1, 2, "2,1,0");
  const auto changed = store.cast(id, ann.id, 0, 2, "0,2,1");  // a second vote replaces the first
  EXPECT_EQ(changed.method, 2);
  EXPECT_EQ(changed.revisions, 1);
  EXPECT_EQ(changed.shown_order, "0,2,1");
  EXPECT_EQ(store.cast(id, ann.id, 0, 2, "0,2,1").revisions, 1);  // the same vote again: no change
  store.cast(id, bo.id, 0, 0, "0,1,2");
  const auto all = store.votes(id);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].subject, "Ann");
  EXPECT_EQ(all[0].sample, 0);
  EXPECT_EQ(all[0].method, 2);
  EXPECT_EQ(all[2].subject, "Bo");
  EXPECT_EQ(store.votes_of(ann.id).size(), 2u);
  EXPECT_FALSE(store.subject_by_key(id, "key-bo")->finished());
  store.finish(bo.id);
  EXPECT_TRUE(store.subject_by_key(id, "key-bo")->finished());
  EXPECT_FALSE(store.subject_by_key(id, "nobody").has_value());

  // The table: only finished subjects by default.
  dmgn::report::Table4Options o;
  o.study = "s1";
  auto t = dmgn::report::build_table4(StudyStore(file, StudyStore::Access::read_only), o);
  EXPECT_EQ(t.tally.votes, 1);
  EXPECT_EQ(t.tally.methods[0].votes, 1);
  o.include_unfinished = true;
  t = dmgn::report::build_table4(store, o);
  EXPECT_EQ(t.tally.votes, 3);
  EXPECT_EQ(t.tally.subjects, 2);
  // Rows: the three methods, the paper's four rows none of ours matches, Tied, No votes yet.
  ASSERT_EQ(t.grid.rows.size(), 3u + 4u + 1u + 1u);
  EXPECT_EQ(t.grid.rows[0][0], "M0");
  EXPECT_EQ(t.grid.rows[0][2], "33.3%");
  EXPECT_EQ(t.grid.rows[2][2], "66.7%");
  EXPECT_EQ(t.grid.rows[2][7], "22.00 / 0.500");
  EXPECT_EQ(t.grid.rows[3][0], "ERRNet");
  EXPECT_EQ(t.grid.rows[3][1], "25.6%");
  EXPECT_EQ(t.grid.rows[6][0], "DMGN");
  EXPECT_EQ(t.grid.rows[6][5], "42");
  EXPECT_EQ(t.grid.rows[7][0], "Tied");
  EXPECT_EQ(t.grid.rows[7][5], "2");
  EXPECT_EQ(t.grid.rows[7][6], "1");  // sample 0: M2 vs M0
  EXPECT_EQ(t.grid.rows[8][6], "2");  // samples 2 and 3 have no vote
}

TEST(StudyExport, UserTextIsNeverALiveFormulaInCsv) {
  // Subject names are typed by anyone with the link; method names and sample ids come from the
  // command line and the dataset's files. In the CSV none of them may be a live formula.
  const fs::path dir = dmgn::testing::scratch("study_export");
  const fs::path file = dir / "runs.sqlite";
  auto study = synthetic_study("inj", 3, 2);
  study.methods[1].name = "=1+1";
  study.methods[2].name = "@SUM(A1)";
  study.samples[0].sample = "-2+3";
  StudyStore store(file);
  const auto id = store.create(study);
  const std::vector<std::string> names = {R"(=HYPERLINK("http://x","y"))", "+1", "-2+3", "@SUM(A1)", "\tTab", "Ann"};
  for (size_t i = 0; i < names.size(); ++i) {
    const auto subject = store.join(id, names[i], "key" + std::to_string(i));
    store.cast(id, subject.id, 0, static_cast<int64_t>(i % 3), "1,0,2");
  }
  const fs::path out = dir / "votes.csv";
  const auto r = dmgn::testing::dmgn_shell("study export inj --store " + file.string() + " --out " + out.string());
  ASSERT_EQ(r.code, 0) << r.out;
  std::ifstream in(out);
  std::string line;
  ASSERT_TRUE(std::getline(in, line));
  EXPECT_EQ(line, "subject,finished_at,sample,sample_id,method,shown_order,cast_at,revisions");
  std::vector<std::string> subjects;
  for (int n = 2; std::getline(in, line) && line.rfind("# ", 0) != 0; ++n) {
    const auto cells = dmgn::report::split_csv_line(line, out, n);
    ASSERT_EQ(cells.size(), 8u) << line;
    subjects.push_back(cells[0]);
    EXPECT_EQ(cells[2], "1");      // numbers stay numbers
    EXPECT_EQ(cells[3], "'-2+3");  // the sample id
    EXPECT_EQ(cells[5], "'=1+1 | M0 | @SUM(A1)");
    EXPECT_EQ(cells[7], "0");
    for (const auto& c : cells)
      EXPECT_TRUE(c.empty() || std::string("=+-@\t\r").find(c.front()) == std::string::npos) << line;
  }
  std::vector<std::string> expected = {"'+1", "'-2+3", R"('=HYPERLINK("http://x","y"))", "'@SUM(A1)", "'\tTab", "Ann"};
  std::sort(subjects.begin(), subjects.end());
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(subjects, expected);
}

class StudyCreate : public ::testing::Test {
 protected:
  void SetUp() override { dmgn::register_builtins(); }
};

TEST_F(StudyCreate, RendersARunAFolderAndTheInput) {
  const fs::path dir = dmgn::testing::scratch("study_create");
  auto o = dmgn::testing::tiny_run(dir);
  for (const char* s : {"train.max_steps=2", "run.experiment=quickstart", "run.variant=DMGN", "data.builtin.heldout_pairs=4"})
    o.push_back(s);
  const dmgn::Config cfg = dmgn::Config::defaults(o);
  const auto summary = dmgn::train::run_training(cfg);
  // Another method's outputs: the ground truth, named by the samples' ids, one sample missing.
  const auto heldout = dmgn::train::open_for_model(cfg, "builtin", dmgn::data::Split::heldout);
  ASSERT_EQ(heldout->size(), 4u);
  const fs::path other = dir / "other";
  fs::create_directories(other);
  for (size_t i = 0; i < 4; ++i) {
    const auto s = heldout->get(i, 0);
    std::string stem = fs::path(s.id).stem().string();
    dmgn::data::write_image(other / (stem + ".png"), dmgn::data::to_mat(s.background()));
  }
  dmgn::study::CreateOptions c;
  c.name = "pilot";
  c.methods = {"run:" + std::to_string(summary.run_id), "GT=folder:" + other.string(), "input"};
  c.samples = 3;
  c.seed = 5;
  c.store = dir / "runs.sqlite";
  const auto study = dmgn::study::create_study(c);
  ASSERT_EQ(study.methods.size(), 3u);
  EXPECT_EQ(study.methods[0].name, "DMGN");
  EXPECT_EQ(study.methods[0].run_id, summary.run_id);
  EXPECT_EQ(study.methods[0].step, 2);
  EXPECT_EQ(study.methods[1].name, "GT");
  EXPECT_EQ(study.methods[2].name, "Input");
  EXPECT_EQ(study.dir, (dir / "studies" / "pilot").string());
  EXPECT_EQ(study.token.size(), 32u);
  ASSERT_EQ(study.samples.size(), 3u);
  std::set<int64_t> indices;
  std::set<std::string> files;
  for (const auto& s : study.samples) indices.insert(s.dataset_index), files.insert(s.input_file);
  EXPECT_EQ(indices.size(), 3u);
  for (const auto& im : study.images) {
    files.insert(im.file);
    EXPECT_TRUE(fs::is_regular_file(fs::path(study.dir) / im.file));
    EXPECT_EQ(im.file.find("GT"), std::string::npos);
    EXPECT_FALSE(std::isnan(im.psnr));
  }
  EXPECT_EQ(files.size(), 3u * 4u);  // every image its own opaque name
  for (const auto& s : study.samples) {
    // The ground truth itself, up to 8-bit rounding (uniform rounding error: 58.9 dB).
    EXPECT_GT(study.image(s.position, 1).psnr, 55);
    EXPECT_LT(study.image(s.position, 0).psnr, 40);
    // The input method's image is the input file's pixels.
    const auto a = dmgn::data::read_image(fs::path(study.dir) / s.input_file);
    const auto b = dmgn::data::read_image(fs::path(study.dir) / study.image(s.position, 2).file);
    EXPECT_EQ(cv::norm(a, b, cv::NORM_INF), 0.0);
  }
  // The same draw from the same seed; the store has it.
  EXPECT_EQ(StudyStore(c.store).get("pilot").samples[1].dataset_index, study.samples[1].dataset_index);

  // Errors name what is at fault and store nothing.
  using dmgn::testing::error_of;
  EXPECT_NE(error_of<dmgn::ConfigError>([&] { dmgn::study::create_study(c); }).find("exists already"), std::string::npos);
  fs::remove(other / (fs::path(heldout->get(0, 0).id).stem().string() + ".png"));
  c.name = "broken";
  c.samples = 4;
  const std::string missing = error_of<dmgn::DataError>([&] { dmgn::study::create_study(c); });
  EXPECT_NE(missing.find("method 'GT': no image for sample '" + heldout->get(0, 0).id + "'"), std::string::npos) << missing;
  EXPECT_FALSE(StudyStore(c.store).find("broken").has_value());
  EXPECT_FALSE(fs::exists(dir / "studies" / "broken"));
  for (const auto& e : fs::directory_iterator(dir / "studies")) EXPECT_EQ(e.path().filename(), "pilot");
  c.samples = 5;
  EXPECT_NE(error_of<dmgn::ConfigError>([&] { dmgn::study::create_study(c); }).find("has 4 samples"), std::string::npos);
  c.methods = {"GT=folder:" + other.string(), "input"};
  EXPECT_NE(error_of<dmgn::ConfigError>([&] { dmgn::study::create_study(c); }).find("pass --config"), std::string::npos);
  c.methods = {"run:999", "input"};
  EXPECT_NE(error_of<dmgn::ConfigError>([&] { dmgn::study::create_study(c); }).find("run 999 is not in"), std::string::npos);
  c.methods = {"x=input", "x=input"};
  c.config = "experiments/quickstart.toml";
  EXPECT_NE(error_of<dmgn::ConfigError>([&] { dmgn::study::create_study(c); }).find("two methods are named 'x'"),
            std::string::npos);
  EXPECT_NE(error_of<dmgn::ConfigError>([] { dmgn::study::parse_method("folder:/no/such/dir"); }).find("does not exist"),
            std::string::npos);
  EXPECT_NE(error_of<dmgn::ConfigError>([] { dmgn::study::parse_method("bogus"); }).find("is not run:ID"),
            std::string::npos);
  c.name = "../escape";
  EXPECT_NE(error_of<dmgn::ConfigError>([&] { dmgn::study::create_study(c); }).find("study name"), std::string::npos);
}

#ifdef DMGN_WITH_STUDY_SERVER

namespace {

// A study with real files for the Api: 3 methods x 2 samples of tiny PNGs.
std::string api_study(const fs::path& dir, const fs::path& file) {
  auto s = synthetic_study("api", 3, 2);
  s.dir = (dir / "files").string();
  s.token = "0123456789abcdef0123456789abcdef";
  fs::create_directories(s.dir);
  const cv::Mat px(4, 4, CV_32FC3, cv::Scalar(0.5, 0.5, 0.5));
  for (const auto& x : s.samples) dmgn::data::write_image(fs::path(s.dir) / x.input_file, px);
  for (const auto& x : s.images) dmgn::data::write_image(fs::path(s.dir) / x.file, px);
  std::ofstream(dir / "secret.txt") << "not part of the study";
  StudyStore(file).create(s);
  return s.token;
}

dmgn::study::Request req(const std::string& method, const std::string& path, std::map<std::string, std::string> query,
                         const std::string& body = "") {
  return {method, path, std::move(query), body};
}

}  // namespace

TEST(StudyApi, ValidatesEveryRequestAndStoresVotesAsCast) {
  const fs::path dir = dmgn::testing::scratch("study_api");
  const fs::path file = dir / "runs.sqlite";
  const std::string token = api_study(dir, file);
  StudyStore store(file);
  dmgn::study::Api api(store, "api");
  const std::map<std::string, std::string> t = {{"t", token}};
  auto call = [&](const dmgn::study::Request& r) { return api.handle(r); };
  auto votes = [&] { return store.votes(api.study().id).size(); };

  EXPECT_EQ(call(req("GET", "/", {})).status, 200);
  EXPECT_NE(call(req("GET", "/", {})).body.find("Which restored image"), std::string::npos);
  EXPECT_EQ(call(req("GET", "/api/study", {})).status, 403);                                   // no token
  EXPECT_EQ(call(req("GET", "/api/study", {{"t", token.substr(1) + "x"}})).status, 403);       // wrong token
  EXPECT_EQ(call(req("GET", "/api/study", t)).body, R"({"letters":["A","B","C"],"samples":2})");
  EXPECT_EQ(call(req("GET", "/api/join", t)).status, 405);
  EXPECT_EQ(call(req("POST", "/api/nothing", t, "{}")).status, 404);
  EXPECT_EQ(call(req("POST", "/api/join", t, "{name: Ann")).status, 400);      // not JSON
  EXPECT_EQ(call(req("POST", "/api/join", t, R"(["Ann"])")).status, 400);      // not an object
  EXPECT_EQ(call(req("POST", "/api/join", t, R"({"name": 5})")).status, 400);  // not a string
  EXPECT_EQ(call(req("POST", "/api/join", t, R"({"name": "  "})")).status, 400);
  EXPECT_EQ(call(req("POST", "/api/join", t, "{\"name\": \"a\\u0007b\"}")).status, 400);
  EXPECT_TRUE(store.subjects(api.study().id).empty());

  const auto joined = call(req("POST", "/api/join", t, R"({"name": " <b>Ann</b> "})"));
  ASSERT_EQ(joined.status, 200) << joined.body;
  const auto subjects = store.subjects(api.study().id);
  ASSERT_EQ(subjects.size(), 1u);
  EXPECT_EQ(subjects[0].name, "<b>Ann</b>");  // stored as typed (trimmed); the page shows it as text
  const std::string key = subjects[0].key;
  EXPECT_NE(joined.body.find(R"("subject":")" + key), std::string::npos);

  // A sample: letters and opaque files in the subject's order; no method name anywhere.
  const auto sample = call(req("GET", "/api/sample", {{"t", token}, {"s", key}, {"i", "1"}}));
  ASSERT_EQ(sample.status, 200) << sample.body;
  const auto order = api.shown_order(key, 1);
  for (size_t k = 0; k < order.size(); ++k)
    EXPECT_NE(sample.body.find(api.study().image(1, order[k]).file), std::string::npos);
  for (const auto& m : api.study().methods) EXPECT_EQ(sample.body.find(m.name), std::string::npos) << m.name;
  EXPECT_EQ(sample.body.find("folder"), std::string::npos);
  EXPECT_EQ(api.shown_order(key, 1), order);  // stable across requests
  EXPECT_EQ(call(req("GET", "/api/sample", {{"t", token}, {"s", key}, {"i", "2"}})).status, 404);
  EXPECT_EQ(call(req("GET", "/api/sample", {{"t", token}, {"s", key}, {"i", "1x"}})).status, 404);
  EXPECT_EQ(call(req("GET", "/api/sample", {{"t", token}, {"s", "stranger"}, {"i", "0"}})).status, 403);

  // Votes: invalid ones change nothing; a valid one is stored at once, a second one replaces it.
  const auto vote = [&](const std::string& body) { return call(req("POST", "/api/vote", t, body)); };
  EXPECT_EQ(vote(R"({"subject": ")" + key + R"(", "sample": 0, "choice": "D"})").status, 400);
  EXPECT_EQ(vote(R"({"subject": ")" + key + R"(", "sample": 0, "choice": "a"})").status, 400);
  EXPECT_EQ(vote(R"({"subject": ")" + key + R"(", "sample": 2, "choice": "A"})").status, 404);
  EXPECT_EQ(vote(R"({"subject": ")" + key + R"(", "sample": "0", "choice": "A"})").status, 400);
  EXPECT_EQ(vote(R"({"subject": "nobody", "sample": 0, "choice": "A"})").status, 403);
  EXPECT_EQ(vote(R"({"subject": ")" + key + R"(", "sample": 0})").status, 400);
  EXPECT_EQ(vote("").status, 400);
  EXPECT_EQ(call(req("POST", "/api/vote", {}, R"({"subject": ")" + key + R"(", "sample": 0, "choice": "A"})")).status, 403);
  EXPECT_EQ(votes(), 0u);
  ASSERT_EQ(vote(R"({"subject": ")" + key + R"(", "sample": 0, "choice": "B"})").status, 200);
  ASSERT_EQ(votes(), 1u);
  EXPECT_EQ(store.votes(api.study().id)[0].method, api.shown_order(key, 0)[1]);
  EXPECT_EQ(call(req("POST", "/api/finish", t, R"({"subject": ")" + key + R"("})")).status, 409);  // sample 1 missing
  ASSERT_EQ(vote(R"({"subject": ")" + key + R"(", "sample": 0, "choice": "C"})").status, 200);
  ASSERT_EQ(votes(), 1u);
  const auto v = store.votes(api.study().id)[0];
  EXPECT_EQ(v.method, api.shown_order(key, 0)[2]);
  EXPECT_EQ(v.revisions, 1);
  // Rejoining resumes the votes, in this subject's letters.
  EXPECT_NE(call(req("POST", "/api/join", t, R"({"name": "<b>Ann</b>"})")).body.find(R"("votes":{"0":"C"})"),
            std::string::npos);
  ASSERT_EQ(vote(R"({"subject": ")" + key + R"(", "sample": 1, "choice": "A"})").status, 200);
  EXPECT_EQ(call(req("POST", "/api/finish", t, R"({"subject": ")" + key + R"("})")).status, 200);
  EXPECT_EQ(vote(R"({"subject": ")" + key + R"(", "sample": 1, "choice": "B"})").status, 409);  // finished
  EXPECT_EQ(call(req("POST", "/api/join", t, R"({"name": "<b>Ann</b>"})")).status, 409);
  EXPECT_EQ(votes(), 2u);

  // Images: only the study's own files.
  const auto& first = api.study().images[0].file;
  EXPECT_EQ(call(req("GET", "/img/" + first, {})).status, 403);
  const auto img = call(req("GET", "/img/" + first, t));
  EXPECT_EQ(img.status, 200);
  EXPECT_EQ(img.file, fs::path(api.study().dir) / first);
  for (const std::string& bad : std::vector<std::string>{"/img/../secret.txt", "/img/../../runs.sqlite", "/img/", "/img/%2e%2e/secret.txt",
                                "/img/" + first + "/../../secret.txt", "/img//etc/passwd"})
    EXPECT_EQ(call(req("GET", bad, t)).status, 404) << bad;
  EXPECT_EQ(call(req("GET", "/etc/passwd", t)).status, 404);
}

TEST(StudyServer, AnswersOverHttpOnLoopback) {
  const fs::path dir = dmgn::testing::scratch("study_server");
  const fs::path file = dir / "runs.sqlite";
  const std::string token = api_study(dir, file);
  StudyStore store(file);
  dmgn::study::Api api(store, "api");
  dmgn::testing::LoopbackServer server([&api](const dmgn::web::Request& r) { return api.handle(r); });
  ASSERT_GT(server.port(), 0);
  auto& client = server.client();
  const auto page = client.Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_EQ(page->get_header_value("X-Frame-Options"), "DENY");
  EXPECT_EQ(client.Get("/api/study")->status, 403);
  const auto study = client.Get(("/api/study?t=" + token).c_str());
  EXPECT_EQ(study->status, 200);
  EXPECT_EQ(study->get_header_value("Cache-Control"), "no-store");
  // Encoded traversal reaches the Api decoded and is refused there.
  EXPECT_EQ(client.Get(("/img/..%2Fsecret.txt?t=" + token).c_str())->status, 404);
  EXPECT_EQ(client.Get(("/img/%2e%2e%2f%2e%2e%2fruns.sqlite?t=" + token).c_str())->status, 404);
  const auto img = client.Get(("/img/" + api.study().images[0].file + "?t=" + token).c_str());
  EXPECT_EQ(img->status, 200);
  EXPECT_EQ(img->get_header_value("Content-Type"), "image/png");
  EXPECT_EQ(img->body.substr(1, 3), "PNG");
  EXPECT_EQ(client.Post(("/api/join?t=" + token).c_str(), "{oops", "application/json")->status, 400);
  EXPECT_EQ(client.Post(("/api/join?t=" + token).c_str(), std::string(70000, 'x'), "application/json")->status, 413);
  EXPECT_EQ(client.Post(("/api/join?t=" + token).c_str(), R"({"name": "Bo"})", "application/json")->status, 200);
  server.stop();
  EXPECT_EQ(store.subjects(api.study().id).size(), 1u);
}

#endif  // DMGN_WITH_STUDY_SERVER
