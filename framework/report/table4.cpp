#include "report/table4.h"

#include "report/tables.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <set>

#include "core/error.h"
#include "report/paper_csv.h"

namespace dmgn::report {

namespace fs = std::filesystem;

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

std::string percent(double share) { return fmt::format("{:.1f}%", 100 * share); }

// The paper's row of that method (case-insensitive), or null.
const PaperRow* paper_row(const PaperTable& paper, const std::string& name) {
  for (const auto& r : paper.rows)
    if (lower(r.method) == lower(name)) return &r;
  return nullptr;
}

std::string paper_number(const PaperTable& paper, const std::string& name, const char* metric, bool as_percent) {
  const PaperRow* r = paper_row(paper, name);
  if (!r || !r->values.at(metric)) return "n/a";
  const double v = *r->values.at(metric);
  return as_percent ? fmt::format("{:.1f}%", v) : fmt::format("{:.0f}", v);
}

std::string method_source(const store::StudyMethod& m) {
  if (m.kind == "run") return fmt::format("run {}, checkpoint step {} ({})", m.run_id, m.step, m.checkpoint);
  if (m.kind == "folder") return fmt::format("saved outputs in {} (paired by file stem)", m.source);
  return "the input image itself";
}

}  // namespace

Table4 build_table4(const store::StudyStore& store, const Table4Options& o) {
  const store::Study study = store.get(o.study);
  ReportOptions where;
  where.paper_dir = o.paper_dir;
  const PaperTable paper = load_paper_csv(paper_dir_of(o.table, where) / (o.table + ".csv"));
  for (const char* metric : {"share", "wins"})
    if (std::find(paper.metrics.begin(), paper.metrics.end(), metric) == paper.metrics.end())
      throw DataError(fmt::format("{}: no '{}' column", paper.file.string(), metric));

  // The votes counted: every finished subject's (and the others' with include_unfinished).
  std::map<int64_t, bool> finished;
  for (const auto& s : store.subjects(study.id)) finished[s.id] = s.finished();
  int64_t left_out_subjects = 0, left_out_votes = 0;
  std::set<int64_t> unfinished_seen;
  std::vector<study::VoteRecord> votes;
  for (const auto& v : store.votes(study.id)) {
    if (!o.include_unfinished && !finished[v.subject_id]) {
      ++left_out_votes;
      if (unfinished_seen.insert(v.subject_id).second) ++left_out_subjects;
      continue;
    }
    votes.push_back({v.subject_id, v.sample, v.method});
  }
  study::TallyOptions to;
  to.resamples = o.resamples;
  to.seed = o.seed;
  Table4 out;
  out.tally = study::tally(votes, static_cast<int64_t>(study.methods.size()), static_cast<int64_t>(study.samples.size()), to);
  const auto& t = out.tally;

  Grid& g = out.grid;
  g.id = "table4";
  g.title = "Table IV: human evaluation (share of the vote, winning samples), paper vs ours";
  g.header = {"Method", "Share (paper)", "Share (ours)", "95% interval", "Votes", "Winning samples (paper)",
              "Winning samples (ours)", "PSNR / SSIM of the shown images"};
  for (const auto& m : study.methods) {
    const auto& mt = t.methods[static_cast<size_t>(m.position)];
    double psnr = 0, ssim = 0;
    int64_t scored = 0;
    for (const auto& im : study.images)
      if (im.method == m.position && !std::isnan(im.psnr)) psnr += im.psnr, ssim += im.ssim, ++scored;
    const std::string quality = scored ? fmt::format("{:.2f} / {:.3f}", psnr / scored, ssim / scored) : "n/a";
    const std::string interval = t.votes ? fmt::format("[{:.1f}, {:.1f}]", 100 * mt.lo, 100 * mt.hi) : "–";
    g.rows.push_back({m.name, paper_number(paper, m.name, "share", true), t.votes ? percent(mt.share) : "–", interval,
                      std::to_string(mt.votes), paper_number(paper, m.name, "wins", false),
                      std::to_string(mt.wins), quality});
    if (m.kind == "run") out.runs.push_back(m.run_id);
  }
  std::set<std::string> ours;
  for (const auto& m : study.methods) ours.insert(lower(m.name));
  for (const auto& r : paper.rows) {
    if (ours.count(lower(r.method)) || lower(r.method) == "tied") continue;
    g.rows.push_back({r.method, paper_number(paper, r.method, "share", true), "–", "–", "–",
                      paper_number(paper, r.method, "wins", false), "–", "–"});
  }
  g.rows.push_back({"Tied", "", "", "", "", paper_number(paper, "Tied", "wins", false), std::to_string(t.tied), ""});
  if (t.unvoted) g.rows.push_back({"No votes yet", "", "", "", "", "", std::to_string(t.unvoted), ""});

  const int64_t all_subjects = static_cast<int64_t>(finished.size());
  const int64_t n_finished = std::count_if(finished.begin(), finished.end(), [](const auto& f) { return f.second; });
  g.notes.push_back(fmt::format("Paper: {} (50 subjects x 50 test samples = 2,500 votes; reflection removal).",
                                paper.file.string()));
  g.notes.push_back(fmt::format(
      "Ours: study '{}' (created {}, git {}): dataset {}, {} samples drawn with seed {}; {} subject(s) counted, {} "
      "vote(s){}.",
      study.name, study.created_at, study.git_revision.empty() ? "?" : study.git_revision, study.dataset,
      study.samples.size(), study.seed, t.subjects, t.votes,
      o.include_unfinished
          ? fmt::format(" ({} of {} subjects finished; unfinished subjects' votes included)", n_finished, all_subjects)
          : left_out_subjects
                ? fmt::format(" ({} unfinished subject(s) and their {} vote(s) left out: --include-unfinished counts them)",
                              left_out_subjects, left_out_votes)
                : ""));
  g.notes.push_back(fmt::format(
      "Share: a method's votes / all votes counted; interval: {:.0f}% percentile bootstrap over subjects ({} resamples, "
      "seed {}). Winning samples: the method with the most votes on a sample; a sample whose top count two or more "
      "methods share is counted as tied, as the paper counts its 2.",
      100 * t.level, t.resamples, o.seed));
  for (const auto& m : study.methods)
    g.notes.push_back(fmt::format("{}: {}{}", m.name, method_source(m),
                                  paper_row(paper, m.name) ? "" : " (no paper row of that name)"));
  const auto p = study.provenance.find("metric=");
  const std::string metric = p == std::string::npos
                                 ? "metric unknown"
                                 : study.provenance.substr(p, study.provenance.find('\n', p) - p);
  g.notes.push_back("PSNR / SSIM: the images shown, against the ground truth; " + metric + ".");
  return out;
}

}  // namespace dmgn::report
