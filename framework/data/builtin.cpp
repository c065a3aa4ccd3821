#include "data/builtin.h"

#include <fmt/format.h>
#include <fmt/ranges.h>  // fmt::join (its home since fmt 11)

#include <algorithm>
#include <cctype>
#include <numeric>
#include <set>

#include "core/error.h"
#include "core/options.h"
#include "core/rng.h"
#include "data/image_cache.h"
#include "data/image_files.h"
#include "data/image_io.h"
#include "data/augment.h"
#include "data/benchmarks.h"
#include "data/synth_reflection.h"

namespace dmgn::data {

namespace {

// Short side -> size, then the centre size x size square.
cv::Mat centre_square(const cv::Mat& img, int size) {
  const cv::Mat scaled = resize_short_side(img, size);
  const cv::Rect box((scaled.cols - size) / 2, (scaled.rows - size) / 2, size, size);
  return scaled(box).clone();
}

void require(bool ok, const std::string& message) {
  if (!ok) throw ConfigError(message);
}

// The images of a photo folder, sorted by name; IoError naming the key when it is missing or
// cannot be listed, or naming the entry when an image name is a broken link (every photo must
// exist and decode: photos are not samples that data.on_bad_sample could leave out); DataError
// when it holds none.
std::vector<std::filesystem::path> folder_images(const std::filesystem::path& dir, const char* key) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec))
    throw IoError(fmt::format("data.builtin.{}: folder '{}' does not exist (or is not a folder)", key, dir.string()));
  std::vector<std::filesystem::path> out;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::string ext = it->path().extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
    if (ext != ".png" && ext != ".jpg" && ext != ".jpeg" && ext != ".bmp" && ext != ".tif" && ext != ".tiff" &&
        ext != ".webp")
      continue;
    const EntryType type = entry_type(*it);
    if (!type.broken.empty()) throw IoError(fmt::format("data.builtin.{}: {}", key, broken_message(it->path(), type)));
    if (type.file) out.push_back(it->path());
  }
  if (ec) throw IoError(fmt::format("data.builtin.{}: cannot list folder '{}': {}", key, dir.string(), ec.message()));
  if (out.empty()) throw DataError(fmt::format("data.builtin.{}: folder '{}' holds no images", key, dir.string()));
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

BuiltinOptions BuiltinOptions::from_config(const Config& full) {
  BuiltinOptions o;
  read_options(full.sub("data.builtin"),
               {{"root", &o.root}, {"photos", &o.photos}, {"heldout", &o.heldout}, {"heldout_photos", &o.heldout_photos},
                {"train_pairs", &o.train_pairs}, {"heldout_pairs", &o.heldout_pairs},
                {"heldout_size", &o.heldout_size}, {"synth", &o.synth}, {"folders", &o.folders},
                {"test_folders", &o.test_folders}, {"heldout_seed", &o.heldout_seed}});
  o.augment = AugmentOptions::from_config(full);
  o.seed = static_cast<uint64_t>(full.get_int("run.seed"));
  for (const auto& p : o.photos) o.paths.push_back(o.root / p);
  const auto add_folder = [&](const std::string& written, const char* key) {
    std::vector<std::string> names;
    for (const auto& f : folder_images(expand_path(written, fmt::format("data.builtin.{}", key)), key)) {
      names.push_back(f.parent_path().filename().string() + "/" + f.filename().string());
      o.photos.push_back(names.back());
      o.paths.push_back(f);
    }
    return names;
  };
  for (const auto& f : o.folders) add_folder(f, "folders");
  if (!o.test_folders.empty()) {
    o.heldout_photos.clear();
    for (const auto& f : o.test_folders)
      for (auto& n : add_folder(f, "test_folders")) o.heldout_photos.push_back(std::move(n));
    o.heldout_per_photo = true;
  }
  return o;
}

PhotoSplit split_photos(size_t count, size_t heldout, uint64_t seed) {
  require(heldout <= count,
          fmt::format("data.builtin.heldout = {} exceeds the {} photos listed", heldout, count));
  std::vector<size_t> order(count);
  std::iota(order.begin(), order.end(), size_t{0});
  Rng rng(derive_seed(seed, "builtin.split"));
  for (size_t i = count; i > 1; --i) {  // Fisher-Yates
    const auto j = static_cast<size_t>(rng.integer(0, static_cast<int64_t>(i) - 1));
    std::swap(order[i - 1], order[j]);
  }
  PhotoSplit split;
  split.heldout.assign(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(heldout));
  split.train.assign(order.begin() + static_cast<std::ptrdiff_t>(heldout), order.end());
  std::sort(split.heldout.begin(), split.heldout.end());
  std::sort(split.train.begin(), split.train.end());
  return split;
}

PhotoSplit split_named(const std::vector<std::string>& photos, const std::vector<std::string>& heldout) {
  PhotoSplit split;
  for (size_t i = 0; i < photos.size(); ++i)
    (std::find(heldout.begin(), heldout.end(), photos[i]) != heldout.end() ? split.heldout : split.train)
        .push_back(i);
  return split;
}

BuiltinDataset::BuiltinDataset(BuiltinOptions options, Split split, SynthPtr synth)
    : options_(std::move(options)), split_(split), synth_(std::move(synth)) {
  const BuiltinOptions& o = options_;
  if (!synth_) throw ConfigError("builtin dataset: no synthesis given (data.builtin.synth)");
  require(!o.photos.empty(), "data.builtin.photos: no photos listed");
  std::set<std::string> seen;
  for (const auto& p : o.photos)
    require(seen.insert(p).second, fmt::format("data.builtin.photos: '{}' is listed twice", p));
  // Every photo must exist and decode, whichever split it lands in (checked before the
  // counts: a broken file is the more basic problem).
  std::vector<std::shared_ptr<const cv::Mat>> images;
  for (size_t i = 0; i < o.photos.size(); ++i) {
    try {
      images.push_back(cached_image(i < o.paths.size() ? o.paths[i] : o.root / o.photos[i]));
    } catch (const IoError& e) {
      throw IoError(fmt::format("data.builtin.photos: {}", e.what()));
    } catch (const DataError& e) {
      throw DataError(fmt::format("data.builtin.photos: {}", e.what()));
    }
  }

  // An explicit held-out list replaces the seed-drawn one.
  for (const auto& h : o.heldout_photos)
    require(seen.count(h), fmt::format("data.builtin.heldout_photos: '{}' is not in data.builtin.photos", h));
  if (!o.heldout_photos.empty()) options_.heldout = static_cast<int64_t>(o.heldout_photos.size());

  const auto n = static_cast<int64_t>(o.photos.size());
  require(o.heldout >= 0 && n - o.heldout >= 2,
          fmt::format("data.builtin.heldout = {}: the train split needs at least 2 of the {} "
                      "photos listed",
                      o.heldout, n));
  require(o.train_pairs >= 1,
          fmt::format("data.builtin.train_pairs = {}: must be at least 1", o.train_pairs));
  require(o.heldout_pairs >= 0,
          fmt::format("data.builtin.heldout_pairs = {}: must not be negative", o.heldout_pairs));
  require(o.heldout_pairs == 0 || o.heldout >= (synth_->needs_layer() ? 2 : 1),
          fmt::format("data.builtin.heldout_pairs = {} needs more held-out photos (synthesis "
                      "'{}' needs {}), got data.builtin.heldout = {}",
                      o.heldout_pairs, synth_->name(), synth_->needs_layer() ? 2 : 1, o.heldout));
  const int limit = synth_->max_size();
  const auto check_size = [&](const char* key, int64_t v) {
    require(v >= 1, fmt::format("{} = {}: must be at least 1", key, v));
    require(limit == 0 || v <= limit,
            fmt::format("{} = {} exceeds the {} px that synthesis '{}' accepts", key, v, limit,
                        synth_->name()));
  };
  check_size("data.crop", o.augment.crop);
  check_size("data.builtin.heldout_size", o.heldout_size);

  const PhotoSplit ps = o.heldout_photos.empty()
                            ? split_photos(o.photos.size(), static_cast<size_t>(o.heldout), o.seed)
                            : split_named(o.photos, o.heldout_photos);
  const auto& mine = split_ == Split::train ? ps.train : ps.heldout;
  for (size_t i : mine) {
    Photo photo{o.photos[i], images[i], image_mean(*images[i]), {}};
    if (split_ == Split::heldout)
      photo.square = centre_square(*photo.image, static_cast<int>(o.heldout_size));
    photos_.push_back(std::move(photo));
  }
  if (split_ == Split::heldout && o.heldout_per_photo) {
    // One sample per photo: T = photo k, R = the next photo (cyclic) that passes the rejection.
    for (size_t a = 0; a < photos_.size() && photos_.size() > 1; ++a) {
      size_t r = (a + 1) % photos_.size();
      for (size_t j = 1; j < photos_.size(); ++j) {
        const size_t b = (a + j) % photos_.size();
        if (!reject_pair(photos_[a].mean, photos_[b].mean)) {
          r = b;
          break;
        }
      }
      pairs_.emplace_back(a, r);
    }
  } else if (split_ == Split::heldout) {
    for (size_t a = 0; a < photos_.size(); ++a)
      for (size_t b = 0; b < photos_.size(); ++b)
        if (a != b && !reject_pair(photos_[a].mean, photos_[b].mean)) pairs_.emplace_back(a, b);
  }
}

std::shared_ptr<BuiltinDataset> BuiltinDataset::from_config(const Config& full, Split split) {
  const BuiltinOptions o = BuiltinOptions::from_config(full);
  SynthPtr synth = synths().make(o.synth, full);
  return std::make_shared<BuiltinDataset>(o, split, std::move(synth));
}

size_t BuiltinDataset::size() const {
  if (split_ == Split::train) return static_cast<size_t>(options_.train_pairs);
  if (options_.heldout_per_photo) return synth_->needs_layer() ? pairs_.size() : photos_.size();
  return static_cast<size_t>(options_.heldout_pairs);
}

Sample BuiltinDataset::make(size_t index, uint64_t epoch) const {
  if (index >= size())
    throw DataError(fmt::format("builtin/{}: sample index {} out of range (size {})",
                                split_name(split_), index, size()));
  return split_ == Split::train ? make_train(index, epoch) : make_heldout(index);
}

Sample BuiltinDataset::to_sample(const SynthOutput& out, std::string id) const {
  Sample s(to_tensor(out.input), to_tensor(out.background), to_tensor(out.noise), std::move(id), synth_->task());
  for (const auto& [name, m] : out.extra) s.set(name, planes_to_tensor(m));
  return s;
}

Sample BuiltinDataset::make_train(size_t index, uint64_t epoch) const {
  const uint64_t n_samples = static_cast<uint64_t>(options_.train_pairs);
  Rng rng(derive_seed(options_.seed, "builtin", epoch * n_samples + index));
  const auto n = static_cast<int64_t>(photos_.size());
  const bool pair = synth_->needs_layer();
  size_t ti = 0, ri = 0;
  const auto draw = [&] {
    ti = static_cast<size_t>(rng.integer(0, n - 1));
    if (!pair) return;
    ri = static_cast<size_t>(rng.integer(0, n - 2));
    if (ri >= ti) ++ri;  // distinct photos
  };
  draw();
  for (int redraw = 0;
       pair && redraw < kMaxPairRedraws && reject_pair(photos_[ti].mean, photos_[ri].mean); ++redraw)
    draw();

  const Photo& t = photos_[ti];
  const Photo& r = photos_[ri];
  std::string id = pair ? fmt::format("builtin/train/e{}/{}:{}+{}", epoch, index, t.name, r.name)
                        : fmt::format("builtin/train/e{}/{}:{}", epoch, index, t.name);
  try {
    SynthInput in;
    if (pair) {
      auto crops = augment({*t.image, *r.image}, options_.augment, rng);
      in.background = crops[0];
      in.layer = crops[1];
    } else {
      in.background = augment({*t.image}, options_.augment, rng)[0];
    }
    return to_sample(synth_->synthesize(in, rng), std::move(id));
  } catch (const DataError& e) {
    throw DataError(fmt::format("sample '{}': {}", id, e.what()));
  }
}

Sample BuiltinDataset::make_heldout(size_t index) const {
  const bool pair = synth_->needs_layer();
  const auto [ti, ri] = pair ? pairs_[index % pairs_.size()] : std::pair<size_t, size_t>{index % photos_.size(), 0};
  const Photo& t = photos_[ti];
  const Photo& r = photos_[ri];
  std::string id = pair ? fmt::format("builtin/heldout/{}:{}+{}", index, t.name, r.name)
                        : fmt::format("builtin/heldout/{}:{}", index, t.name);
  const uint64_t seed =
      options_.heldout_seed < 0 ? options_.seed : static_cast<uint64_t>(options_.heldout_seed);
  Rng rng(derive_seed(seed, "builtin.heldout", index));
  try {
    SynthInput in;
    in.background = t.square;
    if (pair) in.layer = r.square;
    return to_sample(synth_->synthesize(in, rng), std::move(id));
  } catch (const DataError& e) {
    throw DataError(fmt::format("sample '{}': {}", id, e.what()));
  }
}

std::vector<std::string> BuiltinDataset::photo_names() const {
  std::vector<std::string> out;
  for (const auto& p : photos_) out.push_back(p.name);
  return out;
}

std::vector<std::pair<std::string, std::string>> BuiltinDataset::heldout_pairs() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [a, b] : pairs_) out.emplace_back(photos_[a].name, photos_[b].name);
  return out;
}

std::map<std::string, std::string> BuiltinDataset::provenance() const {
  return {
      {"dataset", "builtin-synthetic"},
      {"split", split_name(split_)},
      {"root", options_.root.string()},
      {"folders", fmt::format("{}", fmt::join(split_ == Split::train ? options_.folders : options_.test_folders, ","))},
      {"heldout_seed", options_.heldout_seed < 0 ? "run.seed" : std::to_string(options_.heldout_seed)},
      {"photos", fmt::format("{}", fmt::join(photo_names(), ","))},
      {"synth", synth_->name()},
      {"samples", std::to_string(size())},
      {"size", std::to_string(split_ == Split::train ? options_.augment.crop : options_.heldout_size)},
  };
}

void register_builtin_dataset() {
  datasets().add("builtin",
                 "reflection triples synthesised from the real photos in [data.builtin] "
                 "(skimage by default), seed-split into train / held-out",
                 [](const Config& full, Split split) -> DatasetPtr {
                   return BuiltinDataset::from_config(full, split);
                 });
}

}  // namespace dmgn::data
