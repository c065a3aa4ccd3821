#pragma once
// BatchStream: the training batches of a run, one per step, endlessly, with a resumable
// position. The Loader (data/loader.h) is the stream of one dataset's shards; a dataset may
// build its own (Dataset::make_stream: data/multitask.h's task cycles). The trainer and
// `dmgn bench` read batches only through this interface.
// Position: (epoch, batch_index) with 0 <= batch_index <= batches_per_epoch(); what an "epoch"
// is belongs to the stream (the Loader's: one pass over the dataset; a task cycle's: one cycle).
// A checkpoint stores the position; set_position() restores it exactly.
#include <cstdint>
#include <memory>

#include "data/dataset.h"

namespace dmgn::data {

class BadSamples;  // data/loader.h

class BatchStream {
 public:
  virtual ~BatchStream() = default;
  virtual int64_t batches_per_epoch() const = 0;
  virtual uint64_t epoch() const = 0;
  virtual int64_t batch_index() const = 0;
  virtual void set_position(uint64_t epoch, int64_t batch_index) = 0;
  // The next batch; at the end of an epoch the next epoch starts.
  virtual Batch next_rolling() = 0;
  // Samples skipped so far (data.on_bad_sample = "skip"), over the stream's lifetime.
  virtual int64_t bad_sample_count() const = 0;
  // Samples per batch on this rank.
  virtual int64_t batch_size() const = 0;
};

// The dataset's own stream (Dataset::make_stream) or a Loader over it.
std::unique_ptr<BatchStream> open_stream(std::shared_ptr<const Dataset> dataset, const LoaderOptions& options);

}  // namespace dmgn::data
