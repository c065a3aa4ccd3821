#include "report/paired.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <random>
#include <set>

namespace dmgn::report {
namespace {

double mean_of(const std::vector<std::vector<double>>& d, const std::vector<size_t>& rows,
               const std::vector<size_t>& cols) {
  double sum = 0;
  for (size_t r : rows)
    for (size_t c : cols) sum += d[r][c];
  return sum / static_cast<double>(rows.size() * cols.size());
}

// Two-way ANOVA without replication: (var_seed, var_image, var_residual).
void variance_parts(const std::vector<std::vector<double>>& d, PairedDiff& p) {
  const size_t S = d.size(), I = d[0].size();
  if (S < 2 || I < 2) return;
  std::vector<double> row(S, 0), col(I, 0);
  double grand = 0;
  for (size_t s = 0; s < S; ++s)
    for (size_t i = 0; i < I; ++i) {
      row[s] += d[s][i] / static_cast<double>(I);
      col[i] += d[s][i] / static_cast<double>(S);
      grand += d[s][i] / static_cast<double>(S * I);
    }
  double ss_row = 0, ss_col = 0, ss_res = 0;
  for (size_t s = 0; s < S; ++s) ss_row += static_cast<double>(I) * (row[s] - grand) * (row[s] - grand);
  for (size_t i = 0; i < I; ++i) ss_col += static_cast<double>(S) * (col[i] - grand) * (col[i] - grand);
  for (size_t s = 0; s < S; ++s)
    for (size_t i = 0; i < I; ++i) {
      const double e = d[s][i] - row[s] - col[i] + grand;
      ss_res += e * e;
    }
  const double ms_row = ss_row / static_cast<double>(S - 1), ms_col = ss_col / static_cast<double>(I - 1);
  const double ms_res = ss_res / static_cast<double>((S - 1) * (I - 1));
  p.var_residual = ms_res;
  p.var_seed = std::max(0.0, (ms_row - ms_res) / static_cast<double>(I));
  p.var_image = std::max(0.0, (ms_col - ms_res) / static_cast<double>(S));
}

// Seed -> run id of a row's runs.
std::map<int64_t, int64_t> runs_by_seed(const store::RunStore& store, const TableRow& row) {
  std::map<int64_t, int64_t> out;
  for (int64_t id : row.run_ids)
    if (const auto r = store.run(id)) out[r->seed] = std::max(out[r->seed], id);
  return out;
}

// Image id -> score, of a run's latest test evaluation on a dataset with per-image rows; read
// from the store once per (run, dataset), however many orderings and metrics use it.
class ImageScores {
 public:
  explicit ImageScores(const store::RunStore& store) : store_(store) {}
  std::optional<std::map<std::string, double>> get(int64_t run_id, const std::string& dataset,
                                                   const std::string& metric) {
    auto key = std::make_pair(run_id, dataset);
    auto it = cache_.find(key);
    if (it == cache_.end()) it = cache_.emplace(key, read(run_id, dataset)).first;
    if (it->second.empty()) return std::nullopt;
    std::map<std::string, double> out;
    for (const auto& im : it->second) out[im.image] = metric == "ssim" ? im.ssim : im.psnr;
    return out;
  }

 private:
  std::vector<store::EvalImage> read(int64_t run_id, const std::string& dataset) const {
    const auto evals = store_.evaluations(run_id);
    for (auto e = evals.rbegin(); e != evals.rend(); ++e) {
      if (e->dataset != dataset || e->split != "test" || e->origin != "train") continue;  // the run's own test
      auto images = store_.eval_images(e->id);
      if (!images.empty()) return images;
    }
    return {};
  }
  const store::RunStore& store_;
  std::map<std::pair<int64_t, std::string>, std::vector<store::EvalImage>> cache_;
};

const TableRow* row_of(const PaperVsOurs& t, const std::string& label) {
  for (const auto& r : t.rows)
    if (r.label == label) return &r;
  return nullptr;
}

std::string signed_text(double v, int decimals) { return fmt::format("{:+.{}f}", v, decimals); }

}  // namespace

PairedDiff compare_paired(const std::vector<std::vector<double>>& d, int resamples, uint64_t seed, PairedDiff p) {
  p.seeds = static_cast<int>(d.size());
  p.images = d.empty() ? 0 : static_cast<int>(d[0].size());
  if (p.seeds == 0 || p.images == 0) return p;
  std::vector<size_t> all_rows(d.size()), all_cols(d[0].size());
  for (size_t i = 0; i < all_rows.size(); ++i) all_rows[i] = i;
  for (size_t i = 0; i < all_cols.size(); ++i) all_cols[i] = i;
  p.mean = mean_of(d, all_rows, all_cols);
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<size_t> pick_row(0, d.size() - 1), pick_col(0, d[0].size() - 1);
  std::vector<double> means;
  means.reserve(static_cast<size_t>(resamples));
  std::vector<size_t> rows(d.size()), cols(d[0].size());
  for (int b = 0; b < resamples; ++b) {
    for (auto& r : rows) r = pick_row(rng);
    for (auto& c : cols) c = pick_col(rng);
    means.push_back(mean_of(d, rows, cols));
  }
  std::sort(means.begin(), means.end());
  const auto at = [&](double q) {
    const double pos = q * static_cast<double>(means.size() - 1);
    const auto lo = static_cast<size_t>(std::floor(pos));
    const size_t hi = std::min(lo + 1, means.size() - 1);
    return means[lo] + (pos - static_cast<double>(lo)) * (means[hi] - means[lo]);
  };
  p.lo = at(0.025);
  p.hi = at(0.975);
  p.verdict = p.lo > 0 ? "holds" : p.hi < 0 ? "reversed" : "not resolved";
  variance_parts(d, p);
  return p;
}

namespace {
// 80% power at 5% two-sided: z_{0.975} + z_{0.8}.
constexpr double kPowerZ = 1.96 + 0.8416;
double resolvable(const PairedDiff& p, double seeds, double images) {
  return kPowerZ * std::sqrt(p.var_seed / seeds + p.var_image / images + p.var_residual / (seeds * images));
}
}  // namespace

int images_needed(const PairedDiff& p, int seeds, double target, int max_images) {
  if (resolvable(p, seeds, max_images) > target) return 0;
  int lo = 1, hi = max_images;  // the detectable difference falls as images grow: bisect
  while (lo < hi) {
    const int mid = lo + (hi - lo) / 2;
    if (resolvable(p, seeds, mid) <= target)
      hi = mid;
    else
      lo = mid + 1;
  }
  return lo;
}

int seeds_needed(const PairedDiff& p, int images, double target, int max_seeds) {
  for (int s = 1; s <= max_seeds; ++s)
    if (resolvable(p, s, images) <= target) return s;
  return 0;
}

std::vector<PairedDiff> paired_comparisons(const store::RunStore& store, const PaperVsOurs& t) {
  std::vector<PairedDiff> out;
  ImageScores scores(store);
  std::map<std::string, std::map<int64_t, int64_t>> by_seed;  // row label -> seed -> run id
  for (const auto& r : t.rows) by_seed[r.label] = runs_by_seed(store, r);
  for (size_t c = 0; c < t.columns.size(); ++c)
    for (size_t mi = 0; mi < t.spec.metrics.size(); ++mi)
      for (const auto& [a, b] : t.spec.orderings) {
        const auto& col = t.columns[c];
        const auto& m = t.spec.metrics[mi];
        const TableRow* ra = row_of(t, a);
        const TableRow* rb = row_of(t, b);
        // Only where the table has our numbers on both sides.
        if (!ra || !rb || !ra->cells[c][mi].ours || !rb->cells[c][mi].ours) continue;
        const auto& sa = by_seed.at(a);
        const auto& sb = by_seed.at(b);
        // D[seed][image] over the seeds both rows ran and the images every one of them scored.
        std::vector<int64_t> seeds;
        std::vector<std::map<std::string, double>> da, db;
        std::string missing;
        for (const auto& [seed, id_a] : sa) {
          const auto it = sb.find(seed);
          if (it == sb.end()) continue;
          auto xa = scores.get(id_a, col.id, m.name), xb = scores.get(it->second, col.id, m.name);
          if (!xa || !xb) {
            missing = fmt::format("run {}", !xa ? id_a : it->second);
            continue;
          }
          seeds.push_back(seed);
          da.push_back(std::move(*xa));
          db.push_back(std::move(*xb));
        }
        PairedDiff head;
        head.column = col.id;
        head.metric = m.name;
        head.a = a;
        head.b = b;
        head.column_label = col.label;
        head.metric_header = m.header;
        head.decimals = m.decimals + 1;
        if (seeds.empty()) {
          if (missing.empty()) continue;
          head.missing = missing;
          out.push_back(std::move(head));
          continue;
        }
        std::set<std::string> images;
        for (const auto& [k, v] : da[0]) images.insert(k);
        for (size_t s = 0; s < seeds.size(); ++s)
          for (auto it = images.begin(); it != images.end();)
            it = da[s].count(*it) && db[s].count(*it) ? std::next(it) : images.erase(it);
        if (images.empty()) continue;
        std::vector<std::vector<double>> d;
        for (size_t s = 0; s < seeds.size(); ++s) {
          std::vector<double> rowv;
          for (const auto& im : images) rowv.push_back(db[s].at(im) - da[s].at(im));
          d.push_back(std::move(rowv));
        }
        out.push_back(compare_paired(d, 2000, 12345, std::move(head)));
      }
  return out;
}

std::vector<std::string> paired_verdicts(const PaperVsOurs& t, double target) {
  std::vector<std::string> out;
  for (const auto& p : t.paired) {
    const std::string head = fmt::format("Paired on {} {}, {} - {}", p.column_label, p.metric_header, p.b, p.a);
    if (!p.missing.empty()) {
      out.push_back(fmt::format("{}: not computed, {} has no per-image test scores in the store (logged at the "
                                "end of training since this version, single-process runs)",
                                head, p.missing));
      continue;
    }
    const int dec = p.decimals;
    out.push_back(fmt::format("{}: {} [95% CI {}, {}] over {} seed(s) x {} image(s): {}", head,
                              signed_text(p.mean, dec), signed_text(p.lo, dec), signed_text(p.hi, dec), p.seeds,
                              p.images, p.verdict));
    if (p.metric != "psnr" || p.seeds < 2 || p.images < 2) continue;
    std::vector<std::string> needs;
    std::set<int> sizes = {p.images, 24, 68};
    for (int n : sizes) {
      const int s = seeds_needed(p, n, target);
      needs.push_back(s > 0 ? fmt::format("{} seed(s) with {} images", s, n)
                            : fmt::format("more than 200 seeds with {} images", n));
    }
    const int im = images_needed(p, p.seeds, target);
    const std::string images_line =
        im > 0 ? fmt::format("; with {} seeds, {} test images", p.seeds, im)
               : fmt::format("; with {} seeds, more than 10000 test images", p.seeds);
    out.push_back(fmt::format("Power ({} vs {} on {}): sd of the difference by seed {:.3f}, by image {:.3f}, "
                              "residual {:.3f} dB; resolving a {} dB difference (80% power, 5% two-sided) needs "
                              "{}{}.",
                              p.b, p.a, p.column_label, std::sqrt(p.var_seed), std::sqrt(p.var_image),
                              std::sqrt(p.var_residual), target, fmt::join(needs, ", "), images_line));
  }
  return out;
}

}  // namespace dmgn::report
