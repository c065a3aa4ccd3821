// dmgn board: recorded reports with their paired verdicts, studies with their progress, and a
// recorded report's table regenerated now (board/views.h).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "board/summary.h"
#include "report/tables.h"

namespace dmgn::board {

namespace {

json verdicts_of(const store::ReportRecord& r) {
  json out = json::array();
  for (const auto& v : r.verdicts)
    out.push_back({{"dataset", v.dataset}, {"metric", v.metric}, {"a", v.a}, {"b", v.b}, {"seeds", v.seeds},
                   {"images", v.images}, {"mean", finite_or_null(v.mean)}, {"lo", finite_or_null(v.lo)},
                   {"hi", finite_or_null(v.hi)}, {"verdict", v.verdict}, {"sd_seed", finite_or_null(v.sd_seed)},
                   {"sd_image", finite_or_null(v.sd_image)}, {"sd_residual", finite_or_null(v.sd_residual)}});
  return out;
}

json studies_of(const store::StudyStore& studies) {
  json out = json::array();
  for (const auto& info : studies.list()) {
    const auto s = studies.get(info.name);
    const auto subjects = studies.subjects(s.id);
    const auto votes = studies.votes(s.id);
    const auto finished = std::count_if(subjects.begin(), subjects.end(), [](const auto& x) { return x.finished(); });
    json methods = json::array();
    for (const auto& m : s.methods) methods.push_back(m.name);
    // Progress: votes cast over those the subjects who joined owe (samples each).
    const double owed = static_cast<double>(subjects.size() * s.samples.size());
    out.push_back({{"name", s.name}, {"dataset", s.dataset}, {"samples", s.samples.size()}, {"methods", methods},
                   {"subjects", subjects.size()}, {"finished", finished}, {"votes", votes.size()},
                   {"progress", owed > 0 ? json(static_cast<double>(votes.size()) / owed) : json(nullptr)},
                   {"created_at", s.created_at}});
  }
  return out;
}

}  // namespace

json reports_view(const store::RunStore& store, const store::StudyStore& studies) {
  json reports = json::array();
  const auto all = store.reports();
  for (auto it = all.rbegin(); it != all.rend(); ++it) {  // newest first
    const auto& r = *it;
    reports.push_back({{"id", r.id}, {"report", r.report}, {"sweep", r.sweep}, {"runs", r.runs},
                       {"provenance", r.provenance}, {"git_revision", r.git_revision},
                       {"created_at", r.created_at}, {"verdicts", verdicts_of(r)}});
  }
  return {{"reports", reports}, {"studies", studies_of(studies)}};
}

json report_table(const store::RunStore& store, int64_t report_id) {
  const auto all = store.reports();
  const auto it = std::find_if(all.begin(), all.end(), [&](const auto& r) { return r.id == report_id; });
  if (it == all.end()) throw std::out_of_range(fmt::format("no report {} in {}", report_id, store.path().string()));
  const auto ids = report::table_ids();
  if (std::find(ids.begin(), ids.end(), it->report) == ids.end())
    return {{"id", report_id}, {"error", fmt::format("'{}' is not a table built from runs (dmgn report {} prints it)",
                                                     it->report, it->report)}};
  report::ReportOptions options;
  options.sweep = it->sweep;
  try {
    return {{"id", report_id},
            {"markdown", report::render_report_table(store, it->report, report::Format::markdown, options)}};
  } catch (const std::exception& e) {
    return {{"id", report_id}, {"error", e.what()}};
  }
}

}  // namespace dmgn::board
