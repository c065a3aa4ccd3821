#pragma once
// Paired comparison of two rows of a paper-vs-ours table, per test image: for each ordering
// (a, b) of the table's spec (the paper says a < b), each dataset column and metric, the runs of
// both rows are paired by seed and their final test scores by image (the per-image scores each
// run logs at the end of training, store table eval_images), giving D[seed][image] = b - a.
//   mean      the mean paired difference over seeds and images;
//   interval  95% percentile bootstrap over seeds and images (both resampled with replacement,
//             crossed: a replicate's mean is over every chosen (seed, image) pair), 2000
//             replicates from a fixed seed, so a report is reproducible;
//   verdict   "holds" (interval above 0), "reversed" (below 0) or "not resolved" (contains 0).
// Power (PSNR): the variance of D split into seed, image and residual parts (two-way ANOVA
// without replication, negative estimates set to 0); the number of seeds a sweep with I images
// would need so that a true difference of `target` dB is resolved with 80% power at 5% two-sided:
// 2.8 * sqrt(var_seed / S + var_image / I + var_residual / (S I)) <= target; and, with the
// sweep's own seed count, the number of test images that would do it.
#include <cstdint>
#include <string>
#include <vector>

#include "report/paper_table.h"
#include "store/run_store.h"

namespace dmgn::report {


// D[s][i] -> mean, bootstrap interval and verdict (seeds, images >= 1; fixed replicate seed).
// `into` carries the comparison's names (column, metric, rows), kept in the result.
PairedDiff compare_paired(const std::vector<std::vector<double>>& d, int resamples = 2000, uint64_t seed = 12345,
                          PairedDiff into = {});
// Seeds needed (1..max_seeds, 0 = more) to resolve `target` with `images` images.
int seeds_needed(const PairedDiff& p, int images, double target, int max_seeds = 200);
// Test images needed (1..max_images, 0 = more) to resolve `target` with `seeds` seeds: where
// the image-to-image spread dominates, more images help and more seeds do not.
int images_needed(const PairedDiff& p, int seeds, double target, int max_images = 10000);

// Every ordering, column and metric where the table has our numbers on both sides (a table's
// `paired`): computed where both rows' runs have per-image scores, else `missing` says which
// run has none.
std::vector<PairedDiff> paired_comparisons(const store::RunStore& store, const PaperVsOurs& table);

// The footer lines of a table's `paired`: one per comparison, a power line per PSNR comparison
// (seeds needed to resolve `power_target_db` with the comparison's image count, 24 and 68), and
// a line saying what is missing where one side has no per-image scores.
std::vector<std::string> paired_verdicts(const PaperVsOurs& table, double power_target_db = 0.2);

}  // namespace dmgn::report
