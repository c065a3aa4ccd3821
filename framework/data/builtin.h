#pragma once
// Dataset "builtin": training triples synthesised from a handful of real clean photos
// ([data.builtin]; by default the photos Debian's python3-skimage ships), so that the
// framework trains and evaluates with no download. Provenance "builtin-synthetic".
//
// Photos: every listed photo must exist and decode (checked at construction; the error names
// the file); each is decoded once per process (data/image_cache.h).
// Split (split_photos): when data.builtin.heldout_photos names photos, exactly those are held
//   out (split_named); otherwise a permutation of the photo list drawn from
//   derive_seed(run.seed, "builtin.split") (Fisher-Yates); its first `heldout` photos form the
//   held-out set, the rest the train set; both sets are then listed in config order.
// Train split, `train_pairs` samples per epoch; sample (index, epoch) draws everything from
//   Rng(derive_seed(run.seed, "builtin", epoch * train_pairs + index)), in this order:
//   T and R, two distinct train photos, redrawn (both) while mean(T)/2 > mean(R), at most 3
//   times (official CEILDataset); augment({T, R}) (data/augment.h: short side to an even size
//   in data.augment.short_side, at least the crop; shared flip and crop); the synthesis.
//   A synthesis without a second layer (rain, haze: !needs_layer()) draws T alone, no
//   rejection, augment({T}).
// Extra photo folders: data.builtin.folders adds every image of each folder to the photos
//   (train pool); data.builtin.test_folders adds them as the held-out split itself, fixed and
//   named whatever run.seed (it replaces heldout / heldout_photos), one sample per test photo.
//   A missing or empty folder is an error naming the key and the folder.
// Held-out split, `heldout_pairs` fixed samples, independent of epoch: the ordered pairs
//   (T, R) of distinct held-out photos in list order that pass the rejection test
//   (mean(T)/2 <= mean(R); of any two photos at least one order passes), cycled; sample k uses
//   pair k mod #pairs and Rng(derive_seed(heldout_seed, "builtin.heldout", k)) for the synthesis
//   (heldout_seed < 0: run.seed).
//   Without a second layer sample k uses held-out photo k mod #photos.
//   Each photo: short side resized to heldout_size (resize_short_side), centre square crop.
// Size rule: the synthesis only ever sees crop x crop (train) or heldout_size x heldout_size
//   (held-out) images, whatever a photo's long side, so both keys must not exceed the
//   synthesis's max_size() (549 for reflection_zhang2018): checked at construction.
// Sample: input = the synthesis's I, background = T, noise = its noise layer (reflection,
// streaks, haze veil); id names the photos.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/config.h"
#include "data/augment.h"
#include "data/dataset.h"
#include "data/synthesis.h"

namespace dmgn::data {

// The [data.builtin] keys, plus data.crop, [data.augment] and run.seed.
struct BuiltinOptions {
  std::filesystem::path root;
  std::vector<std::string> photos;
  // Where each photo is read from, parallel to `photos` (empty: root / photo). from_config
  // appends every image of data.builtin.folders and test_folders ("<folder name>/<file>").
  std::vector<std::filesystem::path> paths;
  std::vector<std::string> folders, test_folders;  // as written ("${VAR}" expanded when read)
  // The held-out synthesis's seed, fixed across run.seed (< 0: run.seed) so that every variant
  // and every seed sees the same test inputs.
  int64_t heldout_seed = 0;
  // One held-out sample per held-out photo (set by test_folders): photo k as T with the next
  // held-out photo that passes the pair rejection as R; heldout_pairs is then ignored.
  bool heldout_per_photo = false;
  int64_t heldout = 3;
  std::vector<std::string> heldout_photos;  // non-empty: exactly these are held out
  int64_t train_pairs = 400;
  int64_t heldout_pairs = 12;
  int64_t heldout_size = 256;
  AugmentOptions augment;  // data.crop and [data.augment]
  std::string synth = "reflection_zhang2018";
  uint64_t seed = 0;

  static BuiltinOptions from_config(const Config& full);
};

// Indices into the photo list (each ascending). ConfigError unless 0 <= heldout <= count.
struct PhotoSplit {
  std::vector<size_t> train, heldout;
};
PhotoSplit split_photos(size_t count, size_t heldout, uint64_t seed);
// The held-out set named explicitly (data.builtin.heldout_photos), in list order.
PhotoSplit split_named(const std::vector<std::string>& photos, const std::vector<std::string>& heldout);

class BuiltinDataset final : public Dataset {
 public:
  // Throws ConfigError naming the data.builtin key at fault, IoError / DataError naming the
  // photo that is missing or does not decode.
  BuiltinDataset(BuiltinOptions options, Split split, SynthPtr synth);
  // Options from the full config; the synthesis from the "synth" registry.
  static std::shared_ptr<BuiltinDataset> from_config(const Config& full, Split split);

  size_t size() const override;
  Sample make(size_t index, uint64_t epoch) const override;
  std::string name() const override { return "builtin"; }
  std::map<std::string, std::string> provenance() const override;

  Split split() const { return split_; }
  // This split's photo names, in config order.
  std::vector<std::string> photo_names() const;
  // Held-out split: the (T, R) photo-name pairs cycled over (empty for the train split).
  std::vector<std::pair<std::string, std::string>> heldout_pairs() const;

 private:
  struct Photo {
    std::string name;
    std::shared_ptr<const cv::Mat> image;  // decoded photo (shared, read-only)
    double mean = 0;                       // for the pair rejection
    cv::Mat square;                        // held-out split: the heldout_size centre square
  };
  Sample make_train(size_t index, uint64_t epoch) const;
  Sample make_heldout(size_t index) const;
  Sample to_sample(const SynthOutput& out, std::string id) const;

  BuiltinOptions options_;
  Split split_;
  SynthPtr synth_;
  std::vector<Photo> photos_;                     // this split's photos
  std::vector<std::pair<size_t, size_t>> pairs_;  // held-out (T, R) indices into photos_
};

// Registers "builtin" in datasets().
void register_builtin_dataset();

}  // namespace dmgn::data
