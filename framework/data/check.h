#pragma once
// `dmgn data check`: validates the datasets a config uses before training. Every dataset of
// data.train (train split), data.val and data.test (held-out split), or the names given, is
// opened with on_bad_sample = "skip" (so that every problem is listed rather than the first
// one thrown) and every sample of a real benchmark is read as evaluation reads it; synthetic
// datasets (builtin) are opened (which decodes every photo) and their first sample made.
// The caller decides the exit status from the config's own policy.
#include <functional>
#include <string>
#include <vector>

#include "core/config.h"
#include "data/dataset.h"

namespace dmgn::data {

struct DatasetCheck {
  std::string name;
  Split split = Split::heldout;
  std::string source;             // root and layout, or the registry description
  size_t samples = 0;             // samples listed
  std::vector<DataIssue> issues;  // listing problems, then per-sample problems in index order
  std::string error;              // the dataset could not be opened at all

  int64_t problems() const;       // fatal issues (+1 when it could not be opened)
  int64_t converted() const;      // grey files converted
};

// threads: readers in parallel (>= 1). `on_dataset` is called as each dataset finishes.
// min_side / min_side_why: the model's input requirement (models::input_requirement): smaller
// samples are "too_small" issues. max_pixels / max_pixels_why: the most pixels the model can
// restore in the memory it may use (0 = no limit): larger samples are "too_large" issues.
std::vector<DatasetCheck> check_datasets(const Config& cfg, const std::vector<std::string>& names, int threads,
                                         const std::function<void(const DatasetCheck&)>& on_dataset = {},
                                         int64_t min_side = 1, const std::string& min_side_why = "",
                                         int64_t max_pixels = 0, const std::string& max_pixels_why = "");

// A summary line per kind, e.g. "2 undecodable, 1 size_mismatch".
std::string count_by_kind(const std::vector<DataIssue>& issues, bool fatal_only);

}  // namespace dmgn::data
