// RunStore's reports (schema version 4): a regenerated table's provenance and paired verdicts.
#include <fmt/format.h>

#include <sstream>

#include "store/run_store.h"
#include "store/sqlite.h"

namespace dmgn::store {

namespace {

std::string join_ids(const std::vector<int64_t>& ids) {
  std::string s;
  for (size_t i = 0; i < ids.size(); ++i) s += (i ? " " : "") + std::to_string(ids[i]);
  return s;
}

std::vector<int64_t> split_ids(const std::string& text) {
  std::vector<int64_t> ids;
  std::istringstream in(text);
  int64_t id = 0;
  while (in >> id) ids.push_back(id);
  return ids;
}

}  // namespace

int64_t RunStore::log_report(const ReportRecord& r) {
  int64_t id = 0;
  const std::string created = now_utc();
  db_->write([&] {
    sqlite::Stmt ins(*db_,
                     "INSERT INTO reports(report, sweep, runs, provenance, git_revision, created_at) "
                     "VALUES (?, ?, ?, ?, ?, ?)");
    ins.bind(1, r.report).bind(2, r.sweep).bind(3, join_ids(r.runs)).bind(4, r.provenance);
    ins.bind(5, r.git_revision).bind(6, created).run();
    id = db_->last_insert_id();
    sqlite::Stmt v(*db_,
                   "INSERT INTO report_verdicts(report_id, dataset, metric, a, b, seeds, images, mean, lo, hi, "
                   "verdict, sd_seed, sd_image, sd_residual) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    for (const auto& x : r.verdicts) {
      v.bind(1, id).bind(2, x.dataset).bind(3, x.metric).bind(4, x.a).bind(5, x.b).bind(6, x.seeds);
      v.bind(7, x.images).bind(8, x.mean).bind(9, x.lo).bind(10, x.hi).bind(11, x.verdict);
      v.bind(12, x.sd_seed).bind(13, x.sd_image).bind(14, x.sd_residual).run();
      v.reset();
    }
  });
  return id;
}

std::vector<ReportRecord> RunStore::reports(const std::string& report) const {
  std::vector<ReportRecord> out;
  db_->read([&] {
    out.clear();
    sqlite::Stmt q(*db_,
                   "SELECT id, report, sweep, runs, provenance, git_revision, created_at FROM reports "
                   "WHERE (? = '' OR report = ?) ORDER BY id");
    q.bind(1, report).bind(2, report);
    while (q.step()) {
      ReportRecord r;
      r.id = q.i64(0);
      r.report = q.text(1);
      r.sweep = q.text(2);
      r.runs = split_ids(q.text(3));
      r.provenance = q.text(4);
      r.git_revision = q.text(5);
      r.created_at = q.text(6);
      out.push_back(std::move(r));
    }
    for (auto& r : out) {
      sqlite::Stmt v(*db_,
                     "SELECT dataset, metric, a, b, seeds, images, mean, lo, hi, verdict, sd_seed, sd_image, "
                     "sd_residual FROM report_verdicts WHERE report_id = ? ORDER BY rowid");
      v.bind(1, r.id);
      while (v.step())
        r.verdicts.push_back(ReportVerdict{v.text(0), v.text(1), v.text(2), v.text(3), v.i64(4), v.i64(5), v.real(6),
                                           v.real(7), v.real(8), v.text(9), v.real(10), v.real(11), v.real(12)});
    }
  });
  return out;
}

}  // namespace dmgn::store
