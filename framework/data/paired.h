#pragma once
// Benchmarks of real (input, ground truth) pairs: listing by a folder layout and a file-name
// rule, and the Dataset that reads them. The benchmark layouts themselves (Real20, SIR^2,
// Rain100L/H, SOTS, O-HAZE, ...) are data in data/benchmarks.cpp; datasets/README.md
// documents them.
//
// Listing (list_pairs): the image files of `input_dir` (relative to the root; "" = the root)
//   whose names fully match `input_pattern` (ECMAScript regex, case-insensitive) are inputs,
//   in natural order ("rain-2" before "rain-10"). Each one's ground truth is `target_name`
//   with {1}, {2}, ... replaced by the pattern's capture groups, looked up in `target_dir`; a
//   name ending in ".*" matches any image extension (.png .jpg .jpeg .bmp .tif .tiff .webp).
//   Several inputs may share one ground truth (SOTS indoor: ten hazy images per clear one).
//   Recursive layout (`recursive = true`, SIR^2 as released: one folder per scene with m.jpg,
//   g.jpg, r.jpg): the same rule applied in the root and every folder below it, each input's
//   ground truth in the input's own folder; files matching no rule are not reported.
//   HDF5 layout (`hdf5 = true`, TestA-DCPDN): every *.h5 file in `input_dir` is one sample,
//   input and ground truth are its datasets `input_pattern` and `target_name`.
//   Problems are returned, not thrown: an input without ground truth, an image file in the
//   input folder that matches no rule, a ground truth no input uses ("unpaired" issues).
//   Broken links: an entry with an image name (or .h5) that is a symbolic link to nothing or a
//   link loop is a "bad_link" issue naming it and the OS reason, never an error of the whole
//   listing: an input that is one, or whose ground truth is one, is left out (in `missing`,
//   like an input without ground truth); one that no sample uses is reported in `issues`.
//   Recursive listing never descends into linked folders; a linked folder is listed itself
//   unless its target is listed already (a link to its parent, to a sibling: a "bad_link"
//   issue, so that no sample is listed twice).
// Sample ids are the input's path relative to the root; keys are the pattern's first capture
// group (the part the ground truth's name is made from), else the input's stem.
//
// PairedDataset: sample i = pair i. get() reads both files (data/image_io.h; grey files are
//   converted to RGB and counted), checks they have one size (else a DataError naming both
//   files; with `crop_target` a ground truth larger than its input is first centre-cropped to
//   the input's size, as the SOTS indoor copies with 640x480 clear and 620x460 hazy images
//   need), then: train split — augment({input, target}) (data/augment.h) with
//   Rng(derive_seed(seed, "paired:" + name, epoch * size + index)); held-out split — the full
//   images, unchanged. noise is undefined (real benchmarks have no noise ground truth).
#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "data/augment.h"
#include "data/dataset.h"

namespace dmgn::data {

struct PairRule {
  std::string name;           // layout name, e.g. "input-target"
  std::string input_dir;      // relative to the root; "" = the root
  std::string target_dir;
  std::string input_pattern;  // regex on input file names (hdf5: the input dataset's key)
  std::string target_name;    // template with {N}, optional ".*" (hdf5: the target's key)
  bool recursive = false;
  bool hdf5 = false;
  bool crop_target = false;   // centre-crop a larger ground truth to the input size
  std::string note;           // who uses this layout (shown in errors and data check)
  std::string describe() const;  // "rain/ + norain/: rain-(\d+)\.png -> norain-{1}.png"
};

struct PairedFile {
  std::filesystem::path input, target;  // the same .h5 file for hdf5 rules
  std::string id;
  std::string key;  // the input pattern's first group ("41" of 41_outdoor_hazy.jpg), or the stem
};

struct Listing {
  std::vector<PairedFile> pairs;
  std::vector<DataIssue> missing;  // inputs without ground truth (left out of pairs)
  std::vector<DataIssue> issues;   // other unpaired files: unused ground truths, unmatched names
  PairRule rule;                  // the rule that produced it
};

// Lists `root` with `rule`. IoError when the root or a folder of the rule does not exist.
Listing list_pairs(const std::filesystem::path& root, const PairRule& rule);
// The first rule whose folders exist under `root` and that pairs at least one file.
// IoError naming the root and every rule tried when none does.
Listing list_pairs_auto(const std::filesystem::path& root, const std::vector<PairRule>& rules,
                        const std::string& dataset);

// "a2b10.png" < "a10b2.png" by numbers, not characters.
bool natural_less(const std::string& a, const std::string& b);

struct PairedOptions {
  std::string name;            // the config name, e.g. "rain100h"
  Split split = Split::heldout;
  AugmentOptions augment;      // train split only
  uint64_t seed = 0;
  std::map<std::string, std::string> provenance;  // merged into provenance()
};

class PairedDataset final : public Dataset {
 public:
  // DataError when the listing has no pairs.
  PairedDataset(Listing listing, PairedOptions options);

  size_t size() const override { return listing_.pairs.size(); }
  Sample make(size_t index, uint64_t epoch) const override;
  std::string name() const override { return options_.name; }
  std::map<std::string, std::string> provenance() const override;
  std::vector<DataIssue> listing_issues() const override;
  std::vector<DataIssue> check(size_t index) const override;
  int64_t converted_files() const override;

  const Listing& listing() const { return listing_; }

 private:
  struct Loaded {
    cv::Mat input, target;
    std::vector<DataIssue> notes;  // grayscale conversions
  };
  Loaded load(const PairedFile& f) const;  // throws DataError / IoError naming the file
  void note_converted(const std::vector<DataIssue>& notes) const;

  Listing listing_;
  PairedOptions options_;
  mutable std::mutex converted_mutex_;
  mutable std::set<std::string> converted_;
};

// Reads datasets `input_key` and `target_key` of an HDF5 file (TestA-DCPDN: float HxWx3 in
// [0, 1]) as CV_32FC3 RGB images (sizes are checked by the caller, as for image files). DataError naming the file and key when a dataset is missing
// or not HxWx3 / HxW; Error when dmgn was built without HDF5.
std::pair<cv::Mat, cv::Mat> read_hdf5_pair(const std::filesystem::path& file,
                                           const std::string& input_key,
                                           const std::string& target_key);
bool hdf5_available();

}  // namespace dmgn::data
