#pragma once
// Datasets: indexed, deterministic sources of samples (named tensors: input, background and
// whatever else the data knows, see data::field).
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

class BatchStream;     // data/batch_stream.h
struct LoaderOptions;  // data/loader.h

// The named tensors a sample may carry. Every sample has an input; syntheses fill what they
// know, benchmarks on disk what their files hold. Image fields are 3xHxW in [0, 1] (except where
// a synthesis documents otherwise: reflection_zhang2018 leaves the blend unclipped with
// probability 1/2, as the official code does); the training recipe maps them into the model's
// input range. Other fields keep their own units.
namespace field {
inline constexpr const char* input = "input";                // I, the observed image (image)
inline constexpr const char* background = "background";      // B, the ground truth (image)
inline constexpr const char* noise = "noise";                // the noise layer as it appears in
                                                             // I: reflection, rain, haze veil (image)
inline constexpr const char* reflection = "reflection";      // the reflection layer as it appears
                                                             // in I (reflection syntheses; image)
inline constexpr const char* transmission = "transmission";  // t, 1xHxW in [0, 1] (haze)
inline constexpr const char* airlight = "airlight";          // A per channel, 3x1x1 (haze)
inline constexpr const char* depth = "depth";                // d, 1xHxW in [0, 1], 1 = farthest (haze)
inline constexpr const char* blur_kernel = "blur_kernel";    // 1xKxK, sums to 1 (blur syntheses)
inline constexpr const char* alpha = "alpha";                // the transmission's blend weight,
                                                             // 1x1x1 (reflection_linear)
// True for the fields that are images in [0, 1] (mapped to the model's input range).
bool is_image(const std::string& name);
// Every field name some dataset or synthesis can provide (the names above): a loss term's
// target or condition outside it is a typo (losses/terms.h). A synthesis's `extra` and an
// adapter's sample use only these names.
const std::vector<std::string>& all();
}  // namespace field

// Named tensors by field name (field:: above; a dataset may add its own).
class Fields {
 public:
  bool has(const std::string& name) const { return tensors_.count(name) > 0; }
  // Undefined when absent.
  torch::Tensor get(const std::string& name) const;
  // DataError naming `who` and the fields present when absent.
  const torch::Tensor& at(const std::string& name, const std::string& who) const;
  // An undefined tensor removes the field.
  void set(const std::string& name, torch::Tensor t);
  const std::map<std::string, torch::Tensor>& all() const { return tensors_; }
  std::vector<std::string> names() const;

 private:
  std::map<std::string, torch::Tensor> tensors_;
};

// One sample.
struct Sample {
  Fields fields;
  std::string id;    // names the sample (and its source files) in logs and errors
  std::string task;  // the task it was made for ("reflection" | "rain" | "haze"); "" = unknown

  Sample() = default;
  // The common triple; an undefined noise is left out.
  Sample(torch::Tensor input, torch::Tensor background, torch::Tensor noise, std::string id, std::string task = "");
  bool has(const std::string& name) const { return fields.has(name); }
  torch::Tensor get(const std::string& name) const { return fields.get(name); }
  const torch::Tensor& at(const std::string& name) const { return fields.at(name, "sample '" + id + "'"); }
  void set(const std::string& name, torch::Tensor t) { fields.set(name, std::move(t)); }
  torch::Tensor input() const { return get(field::input); }
  torch::Tensor background() const { return get(field::background); }
  torch::Tensor noise() const { return get(field::noise); }
};

// Samples stacked to N x ... per field.
struct Batch {
  Fields fields;
  std::vector<std::string> ids;
  std::vector<std::string> tasks;  // per sample
  int64_t size() const { return static_cast<int64_t>(ids.size()); }
  bool has(const std::string& name) const { return fields.has(name); }
  torch::Tensor get(const std::string& name) const { return fields.get(name); }
  const torch::Tensor& at(const std::string& name) const { return fields.at(name, "batch"); }
  torch::Tensor input() const { return get(field::input); }
  torch::Tensor background() const { return get(field::background); }
  torch::Tensor noise() const { return get(field::noise); }
};

enum class Split { train, heldout };

// One problem with a dataset's files, found while listing or reading it.
//   kind: "unpaired"      an input without ground truth, or a ground truth without input
//         "undecodable"   a file that does not decode (corrupt PNG, JPEG cut short, ...)
//         "unreadable"    a file that cannot be opened
//         "bad_link"      a symbolic link whose target cannot be reached (dangling, a loop):
//                         the listing leaves its sample out, like an input without ground truth
//         "size_mismatch" input and ground truth of different sizes
//         "too_small"     smaller than the model takes (Dataset::require_min_side)
//         "too_large"     more pixels than the model can restore in the memory it may use
//                         (Dataset::note_max_pixels: `dmgn data check` only)
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
  // For `dmgn data check`: check() reports a sample with more pixels than this as "too_large",
  // with `why` (the model's memory per pixel against what may be used). get() does not refuse
  // it: evaluation decides per sample (train/evaluate.h). 0 = no limit.
  void note_max_pixels(int64_t pixels, std::string why);
  // "" when an h x w sample fits note_max_pixels, else the one-line message.
  std::string large_problem(int64_t h, int64_t w, const std::string& id) const;
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

  // The task its samples are for, when the dataset itself knows it (a multi-task dataset's
  // parts, data/multitask.h): evaluation scores it under that task's conventions. "" = the
  // config's ([datasets.NAME].task, else task.name).
  virtual std::string task() const { return ""; }
  // A dataset made of separately scored parts (one per task): training and `dmgn eval`
  // validate and test each part on its own. Empty = the dataset is scored as one.
  virtual std::vector<std::shared_ptr<const Dataset>> parts() const { return {}; }
  // Batches that are not the Loader's shards of one index space (data/multitask.h: each batch
  // from one task, in cycles); null = the Loader's (data/batch_stream.h: open_stream).
  virtual std::unique_ptr<BatchStream> make_stream(const LoaderOptions& options) const;

 protected:
  // The adapter's sample (get() adds the finiteness and size checks).
  virtual Sample make(size_t index, uint64_t epoch) const = 0;

 private:
  int64_t min_side_ = 1;
  std::string min_side_why_;
  int64_t max_pixels_ = 0;
  std::string max_pixels_why_;
};

using DatasetPtr = std::shared_ptr<Dataset>;
using DatasetRegistry = Registry<DatasetPtr, const Config& /*full config*/, Split>;
DatasetRegistry& datasets();

// The sample itself when its tensors hold only finite values; a DataError naming the sample,
// the dataset and the tensor otherwise (a synthesis or decoder bug must not reach training as a
// NaN loss several steps later).
Sample require_finite(Sample s, const std::string& dataset);

// Stacks samples (all with the same fields and shapes) into a batch; DataError naming the first
// mismatching sample and field otherwise (also when only some samples have a noise layer).
Batch collate(std::vector<Sample> samples);

}  // namespace dmgn::data
