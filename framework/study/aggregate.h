#pragma once
// Vote aggregation of a blind human study (DMGN Table IV): each method's share of the votes with
// a percentile-bootstrap interval over subjects (a subject's votes stay together, since one
// person's taste is not independent across samples), and per sample the method with the most
// votes: a sample whose top count is shared by two or more methods is tied and credited to no
// method (the paper's "the left 2 samples have equal votes for two or more than two methods").
#include <cstdint>
#include <vector>

namespace dmgn::study {

struct VoteRecord {
  int64_t subject = 0;  // any id; one vote per (subject, sample)
  int64_t sample = 0;   // 0 <= sample < samples
  int64_t method = 0;   // 0 <= method < methods
};

struct MethodTally {
  int64_t votes = 0;
  double share = 0;        // votes / all votes counted (0 when there are none)
  double lo = 0, hi = 0;   // the bootstrap interval of the share
  int64_t wins = 0;        // samples this method won outright
};

struct Tally {
  int64_t subjects = 0, votes = 0;
  std::vector<MethodTally> methods;
  std::vector<int64_t> winner;  // per sample: the winning method, kTied, or kNoVotes
  int64_t tied = 0, unvoted = 0;
  int resamples = 0;
  double level = 0.95;
  static constexpr int64_t kTied = -1, kNoVotes = -2;
};

struct TallyOptions {
  int resamples = 2000;  // bootstrap resamples of the subjects (0: no interval, lo = hi = share)
  uint64_t seed = 0;     // the bootstrap's generator (the same seed gives the same interval)
  double level = 0.95;
};

// Throws DataError for a vote outside [0, samples) x [0, methods), or a second vote of one
// subject on one sample (the store keeps one: a changed vote replaces the first).
Tally tally(const std::vector<VoteRecord>& votes, int64_t methods, int64_t samples, const TallyOptions& options = {});

}  // namespace dmgn::study
