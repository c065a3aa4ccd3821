#pragma once
// What `dmgn board` shows, as JSON built from a store opened read-only (board/api.h serves it).
// Every view reads the store afresh, so a page that polls sees a training run's new rows.
//   runs_view      every run: live status (store/liveness.h), experiment, sweep, variant, seed,
//                  step, planned steps, it/s, ETA, final test scores
//   run_view       one run: the above, provenance, the resolved config (flattened key = value)
//                  and what differs from its sweep's common values, checkpoints, evaluations,
//                  images (by index into run_images: the browser never names a file)
//   curves_view    its training and validation series, [step, value] per series, each thinned
//                  to every k-th point when longer than kMaxCurvePoints ("thinned": name -> n)
//   sweeps_view    the store's sweeps with their status counts
//   sweep_view     a sweep's variants x seeds grid; its axes (the config keys that vary across
//                  its runs, keys that vary together making one axis) and, with two numeric
//                  axes, Fig. 6's grid: mean final test PSNR / SSIM per cell over seeds, with n
//   reports_view   every recorded report (RunStore::log_report) with its paired verdicts and
//                  provenance, and the studies with their progress
//   report_table   a recorded report's table regenerated now (Markdown), or why it cannot be
// A missing run, sweep or report is a std::out_of_range naming it.
#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "store/run_store.h"
#include "store/study_store.h"

namespace dmgn::board {

using json = nlohmann::json;

inline constexpr size_t kMaxCurvePoints = 1000;

json runs_view(const store::RunStore& store);
json run_view(const store::RunStore& store, int64_t run_id);
json curves_view(const store::RunStore& store, int64_t run_id);
json sweeps_view(const store::RunStore& store);
json sweep_view(const store::RunStore& store, const std::string& sweep);
json reports_view(const store::RunStore& store, const store::StudyStore& studies);
json report_table(const store::RunStore& store, int64_t report_id);

// An image a run's page may show: a file the store names for that run (a test output of its
// evaluations with the input and ground truth saved beside it, or a `dmgn visualize` dump's
// image), with a caption. Only existing files are listed; the list's order is stable.
struct RunImage {
  std::filesystem::path file;
  std::string group, caption;
};
std::vector<RunImage> run_images(const store::RunStore& store, int64_t run_id);

// A resolved config's text as sorted "a.b.c" = TOML value pairs ([runtime] left out: it is not
// part of a run's identity). Text that does not parse gives an empty list.
std::vector<std::pair<std::string, std::string>> flatten_config(const std::string& config_text);

}  // namespace dmgn::board
