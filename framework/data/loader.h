#pragma once
// Loader: epoch-seeded, rank-sharded batches from a Dataset, prepared by worker threads.
//
// Order: epoch e visits the dataset's N samples in a permutation drawn from
//   Rng(derive_seed(seed, "order", e)) (Fisher-Yates), or in index order without shuffle.
// Sharding (G = batch_size * world_size samples per global step):
//   drop_last = true  — the global order is truncated to floor(N / G) * G samples (the tail
//                       is dropped); N < G is a DataError.
//   drop_last = false — it is padded to ceil(N / G) * G by wrapping around to its start, so
//                       every rank gets the same number of batches (the padding repeats at most
//                       G - 1 samples).
//   Global step s covers positions [s*G, (s+1)*G) of that order; rank r takes the slice
//   [s*G + r*B, s*G + (r+1)*B). Without padding the ranks' shards are disjoint, and together
//   they cover the (truncated) epoch.
// Workers: `workers` threads call Dataset::get() for the next `prefetch` batches ahead;
//   workers = 0 prepares samples in the calling thread. Samples are deterministic, so the
//   batches are bitwise identical for any number of workers.
// Position: next() returns the batch at (epoch(), batch_index()) and advances; at the end of
//   an epoch it returns nullopt until start_epoch(e) or set_position(e, b) (resume).
// Bad samples: a sample whose get() throws DataError / IoError rethrows it (naming the file)
//   from next(), unless skip_bad: then the loader takes index + 1, + 2, ... (mod N) of the same
//   epoch instead, the first that works, and records the failure in bad_samples() (shared by
//   every thread; each failing index is one entry). The substitute depends only on
//   (index, epoch) and the data, so batches stay identical for any number of workers. When every
//   sample fails, a DataError says so.
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <memory>
#include <optional>
#include <vector>

#include "data/batch_stream.h"
#include "data/dataset.h"

namespace dmgn::data {

struct LoaderOptions {
  int64_t batch_size = 1;
  bool shuffle = true;
  bool drop_last = true;
  uint64_t seed = 0;
  int64_t rank = 0;
  int64_t world_size = 1;
  int64_t workers = 0;   // threads preparing samples; 0 = the calling thread
  int64_t prefetch = 2;  // batches prepared ahead when workers > 0
  bool skip_bad = false;  // data.on_bad_sample = "skip"
};

// Failures the loader skipped (thread-safe): key "<dataset>#<index>" -> the error message.
class BadSamples {
 public:
  // True when `key` is new (the caller warns once per bad sample).
  bool add(const std::string& key, const std::string& message);
  int64_t count() const;
  std::map<std::string, std::string> entries() const;

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::string> entries_;
};

class Loader final : public BatchStream {
 public:
  // Throws DataError for an empty dataset or N < batch_size * world_size with drop_last,
  // Error for invalid options (batch_size < 1, rank outside [0, world_size), ...).
  Loader(std::shared_ptr<const Dataset> dataset, LoaderOptions options);
  ~Loader() override;
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  int64_t batches_per_epoch() const override { return batches_per_epoch_; }
  uint64_t epoch() const override { return epoch_; }
  int64_t batch_index() const override { return batch_index_; }
  int64_t bad_sample_count() const override { return bad_->count(); }
  int64_t batch_size() const override { return options_.batch_size; }
  const LoaderOptions& options() const { return options_; }
  const Dataset& dataset() const { return *dataset_; }
  // Samples skipped so far (skip_bad), over the loader's lifetime.
  const BadSamples& bad_samples() const { return *bad_; }

  // Position (epoch, 0).
  void start_epoch(uint64_t epoch);
  // Resume: the next batch returned is batch `batch_index` of `epoch`
  // (0 <= batch_index <= batches_per_epoch()).
  void set_position(uint64_t epoch, int64_t batch_index) override;
  std::optional<Batch> next();
  // The next batch of an endless stream: at the end of an epoch the next one starts
  // (start_epoch(epoch() + 1)), as training does.
  Batch next_rolling() override;

  // This rank's dataset indices for `epoch`, batch after batch (batches_per_epoch() *
  // batch_size entries).
  std::vector<size_t> shard(uint64_t epoch) const;
  // The whole (truncated or padded) global order for `epoch`.
  std::vector<size_t> global_order(uint64_t epoch) const;

 private:
  struct Pool;
  struct Pending;
  void reset_prefetch();
  void fill_prefetch();

  std::shared_ptr<const Dataset> dataset_;
  LoaderOptions options_;
  std::shared_ptr<BadSamples> bad_ = std::make_shared<BadSamples>();
  int64_t batches_per_epoch_ = 0;
  uint64_t epoch_ = 0;
  int64_t batch_index_ = 0;
  std::vector<size_t> shard_;  // shard(epoch_)
  std::unique_ptr<Pool> pool_;
  std::vector<std::unique_ptr<Pending>> pending_;  // batches batch_index_, batch_index_+1, ...
};

}  // namespace dmgn::data
