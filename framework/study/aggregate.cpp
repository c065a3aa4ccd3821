#include "study/aggregate.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <set>

#include "core/error.h"

namespace dmgn::study {

namespace {

// The q-quantile of sorted values, linearly interpolated (numpy's default).
double quantile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  const double pos = q * static_cast<double>(sorted.size() - 1);
  const auto lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (pos - static_cast<double>(lo)) * (sorted[hi] - sorted[lo]);
}

}  // namespace

Tally tally(const std::vector<VoteRecord>& votes, int64_t methods, int64_t samples, const TallyOptions& o) {
  if (methods < 1 || samples < 1)
    throw DataError(fmt::format("a study needs at least one method and one sample (got {} and {})", methods, samples));
  if (!(o.level > 0 && o.level < 1)) throw DataError(fmt::format("interval level must be in (0, 1), got {}", o.level));
  Tally t;
  t.methods.assign(static_cast<size_t>(methods), {});
  t.resamples = o.resamples;
  t.level = o.level;
  // Per subject, votes per method (the bootstrap's unit); per sample, votes per method.
  std::map<int64_t, std::vector<int64_t>> per_subject;
  std::vector<std::vector<int64_t>> per_sample(static_cast<size_t>(samples), std::vector<int64_t>(methods, 0));
  std::set<std::pair<int64_t, int64_t>> seen;
  for (const auto& v : votes) {
    if (v.sample < 0 || v.sample >= samples)
      throw DataError(fmt::format("vote of subject {} names sample {} (the study has {})", v.subject, v.sample, samples));
    if (v.method < 0 || v.method >= methods)
      throw DataError(fmt::format("vote of subject {} on sample {} names method {} (the study has {})", v.subject,
                                  v.sample, v.method, methods));
    if (!seen.insert({v.subject, v.sample}).second)
      throw DataError(fmt::format("subject {} has two votes on sample {}", v.subject, v.sample));
    auto& counts = per_subject[v.subject];
    counts.resize(static_cast<size_t>(methods), 0);
    ++counts[static_cast<size_t>(v.method)];
    ++per_sample[static_cast<size_t>(v.sample)][static_cast<size_t>(v.method)];
    ++t.methods[static_cast<size_t>(v.method)].votes;
  }
  t.subjects = static_cast<int64_t>(per_subject.size());
  t.votes = static_cast<int64_t>(votes.size());
  for (auto& m : t.methods) {
    m.share = t.votes > 0 ? static_cast<double>(m.votes) / static_cast<double>(t.votes) : 0;
    m.lo = m.hi = m.share;
  }
  for (const auto& counts : per_sample) {
    const int64_t top = *std::max_element(counts.begin(), counts.end());
    if (top == 0) {
      t.winner.push_back(Tally::kNoVotes);
      ++t.unvoted;
      continue;
    }
    if (std::count(counts.begin(), counts.end(), top) > 1) {
      t.winner.push_back(Tally::kTied);
      ++t.tied;
      continue;
    }
    const auto w = static_cast<int64_t>(std::max_element(counts.begin(), counts.end()) - counts.begin());
    t.winner.push_back(w);
    ++t.methods[static_cast<size_t>(w)].wins;
  }
  if (o.resamples > 0 && t.subjects > 0) {
    std::vector<const std::vector<int64_t>*> subjects;
    for (const auto& [id, counts] : per_subject) subjects.push_back(&counts);
    std::mt19937_64 rng(o.seed);
    std::uniform_int_distribution<size_t> pick(0, subjects.size() - 1);
    std::vector<std::vector<double>> shares(static_cast<size_t>(methods));
    std::vector<int64_t> sum(static_cast<size_t>(methods));
    for (int b = 0; b < o.resamples; ++b) {
      std::fill(sum.begin(), sum.end(), 0);
      int64_t total = 0;
      for (size_t i = 0; i < subjects.size(); ++i) {
        const auto& counts = *subjects[pick(rng)];
        for (size_t m = 0; m < counts.size(); ++m) {
          sum[m] += counts[m];
          total += counts[m];
        }
      }
      for (size_t m = 0; m < sum.size(); ++m)
        shares[m].push_back(static_cast<double>(sum[m]) / static_cast<double>(total));
    }
    const double tail = (1 - o.level) / 2;
    for (size_t m = 0; m < shares.size(); ++m) {
      std::sort(shares[m].begin(), shares[m].end());
      t.methods[m].lo = quantile(shares[m], tail);
      t.methods[m].hi = quantile(shares[m], 1 - tail);
    }
  }
  return t;
}

}  // namespace dmgn::study
