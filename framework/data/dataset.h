#pragma once
// Datasets: indexed, deterministic sources of (input, background, noise) samples.
// Contract for every Dataset (adapters implement make(); get() is make() plus the checks
// every sample gets):
//   - get(index, epoch) is a pure function of (dataset seed, index, epoch): the same call
//     returns bitwise the same sample, on any thread, in any order;
//   - get() is safe to call from several threads at once (const, no unsynchronised state);
//   - a sample it cannot make throws (DataError / IoError naming the file or sample), never
//     a silent skip; so does a sample smaller than the model can take (require_min_side), so
//     that data.on_bad_sample and `dmgn data check` treat it like any other bad sample.
// Registry "dataset": factory(full config, split) -> std::shared_ptr<Dataset>.
#include <torch/torch.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/registry.h"

namespace dmgn::data {

// One sample: float 3xHxW tensors. background and noise are in [0, 1]; input is in [0, 1]
// except where a synthesis documents otherwise (reflection_zhang2018 leaves the blend
// unclipped with probability 1/2, as the official code does).
struct Sample {
  torch::Tensor input;       // the observed image I
  torch::Tensor background;  // ground-truth background B (the model's target)
  torch::Tensor noise;       // ground-truth noise layer (reflection, rain, haze); may be undefined
  std::string id;            // names the sample (and its source files) in logs and errors
};

// Samples stacked to NCHW. noise is undefined when the samples have none.
struct Batch {
  torch::Tensor input, background, noise;
  std::vector<std::string> ids;
  int64_t size() const { return static_cast<int64_t>(ids.size()); }
};

enum class Split { train, heldout };

// One problem with a dataset's files, found while listing or reading it.
//   kind: "unpaired"      an input without ground truth, or a ground truth without input
//         "undecodable"   a file that does not decode (corrupt PNG, JPEG cut short, ...)
//         "unreadable"    a file that cannot be opened
//         "size_mismatch" input and ground truth of different sizes
//         "too_small"     smaller than the model takes (Dataset::require_min_side)
//         "grayscale"     a grey file converted to RGB (a note: the sample is still used)
//         "sample"        any other failure of a sample
struct DataIssue {
  std::string kind;
  std::string file;     // the file at fault (or the sample id)
  std::string message;  // one line naming the file
  bool fatal() const { return kind != "grayscale"; }
};
const char* split_name(Split split);

class Dataset {
 public:
  virtual ~Dataset() = default;
  // Samples per epoch.
  virtual size_t size() const = 0;
  // index < size(); epoch selects the epoch's random draws (ignored by fixed splits).
  Sample get(size_t index, uint64_t epoch) const;
  // The smallest height and width the consuming model takes, and why (e.g. "model.refine.
  // dilations: reflection padding 16"); set once after opening, before samples are read.
  void require_min_side(int64_t side, std::string why);
  int64_t min_side() const { return min_side_; }
  // "" when an h x w sample (named `id`) fits min_side, else the one-line message saying why not.
  std::string size_problem(int64_t h, int64_t w, const std::string& id) const;
  virtual std::string name() const = 0;
  // Where the data comes from, stored with each run, e.g. {"dataset", "builtin-synthetic"}.
  virtual std::map<std::string, std::string> provenance() const = 0;

  // Problems found while listing the files (unpaired files left out), empty for synthetic
  // datasets.
  virtual std::vector<DataIssue> listing_issues() const { return {}; }
  // Reads sample `index` as evaluation would and says what is wrong with it (empty = fine,
  // "grayscale" notes do not make it bad). Never throws for bad data. Default: get(index, 0),
  // a DataError / IoError becomes one "sample" issue.
  virtual std::vector<DataIssue> check(size_t index) const;
  // Grey files converted to RGB so far (each file counted once).
  virtual int64_t converted_files() const { return 0; }

 protected:
  // The adapter's sample (get() adds the finiteness and size checks).
  virtual Sample make(size_t index, uint64_t epoch) const = 0;

 private:
  int64_t min_side_ = 1;
  std::string min_side_why_;
};

using DatasetPtr = std::shared_ptr<Dataset>;
using DatasetRegistry = Registry<DatasetPtr, const Config& /*full config*/, Split>;
DatasetRegistry& datasets();

// The sample itself when its tensors hold only finite values; a DataError naming the sample,
// the dataset and the tensor otherwise (a synthesis or decoder bug must not reach training as a
// NaN loss several steps later).
Sample require_finite(Sample s, const std::string& dataset);

// Stacks samples (all with the same shapes) into a batch; DataError naming the first
// mismatching sample otherwise (also when only some samples have a noise layer).
Batch collate(std::vector<Sample> samples);

}  // namespace dmgn::data
