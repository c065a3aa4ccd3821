#include "data/loader.h"

#include <fmt/format.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <numeric>
#include <thread>

#include "core/error.h"
#include "core/log.h"
#include "core/rng.h"

namespace dmgn::data {

// A fixed set of threads running queued jobs in FIFO order.
struct Loader::Pool {
  // A thread the system refuses (its thread or memory limit) stops the ones started and is an
  // error naming data.workers, instead of std::terminate on joinable threads.
  explicit Pool(int64_t n) {
    try {
      for (int64_t i = 0; i < n; ++i) threads.emplace_back([this] { run(); });
    } catch (const std::system_error& e) {
      shut_down();
      throw Error(fmt::format("cannot start data worker {} of {} (data.workers): {}; lower data.workers",
                              threads.size() + 1, n, e.what()));
    }
  }
  ~Pool() { shut_down(); }
  void shut_down() {
    {
      std::lock_guard<std::mutex> lock(mutex);
      stop = true;
      jobs.clear();  // never started: their futures report broken_promise, nobody waits
    }
    wake.notify_all();
    for (auto& t : threads)
      if (t.joinable()) t.join();
  }
  void submit(std::function<void()> job) {
    {
      std::lock_guard<std::mutex> lock(mutex);
      jobs.push_back(std::move(job));
    }
    wake.notify_one();
  }
  void run() {
    for (;;) {
      std::function<void()> job;
      {
        std::unique_lock<std::mutex> lock(mutex);
        wake.wait(lock, [this] { return stop || !jobs.empty(); });
        if (stop) return;
        job = std::move(jobs.front());
        jobs.pop_front();
      }
      job();
    }
  }

  std::mutex mutex;
  std::condition_variable wake;
  std::deque<std::function<void()>> jobs;
  bool stop = false;
  std::vector<std::thread> threads;
};

bool BadSamples::add(const std::string& key, const std::string& message) {
  std::lock_guard<std::mutex> lock(mutex_);
  return entries_.emplace(key, message).second;
}

int64_t BadSamples::count() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return static_cast<int64_t>(entries_.size());
}

std::map<std::string, std::string> BadSamples::entries() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return entries_;
}

namespace {

// Dataset::get with the skip policy (see loader.h).
Sample fetch(const Dataset& ds, size_t index, uint64_t epoch, bool skip, BadSamples& bad) {
  const size_t n = ds.size();
  std::string last;
  for (size_t k = 0; k < n; ++k) {
    const size_t i = (index + k) % n;
    try {
      return ds.get(i, epoch);  // finite and large enough (Dataset::get)
    } catch (const DataError& e) {
      if (!skip) throw;
      last = e.what();
    } catch (const IoError& e) {
      if (!skip) throw;
      last = e.what();
    }
    if (bad.add(fmt::format("{}#{}", ds.name(), i), last))
      log::warn(fmt::format("skipping bad sample {} of dataset '{}' (data.on_bad_sample = \"skip\"): {}", i,
                            ds.name(), last));
  }
  throw DataError(fmt::format("dataset '{}': every one of its {} samples failed to load; the last: {}",
                              ds.name(), n, last));
}

}  // namespace

// One batch being prepared by the pool.
struct Loader::Pending {
  int64_t batch = 0;
  std::vector<std::future<Sample>> samples;
  std::shared_ptr<std::atomic<bool>> cancelled = std::make_shared<std::atomic<bool>>(false);
};

Loader::Loader(std::shared_ptr<const Dataset> dataset, LoaderOptions options)
    : dataset_(std::move(dataset)), options_(options) {
  const LoaderOptions& o = options_;
  if (!dataset_) throw Error("loader: no dataset");
  if (o.batch_size < 1) throw Error(fmt::format("loader: batch_size {} < 1", o.batch_size));
  if (o.world_size < 1) throw Error(fmt::format("loader: world_size {} < 1", o.world_size));
  if (o.rank < 0 || o.rank >= o.world_size)
    throw Error(fmt::format("loader: rank {} outside [0, {})", o.rank, o.world_size));
  if (o.workers < 0) throw Error(fmt::format("loader: workers {} < 0", o.workers));
  if (o.prefetch < 1) throw Error(fmt::format("loader: prefetch {} < 1", o.prefetch));

  const auto n = static_cast<int64_t>(dataset_->size());
  const int64_t g = o.batch_size * o.world_size;
  if (n == 0) throw DataError(fmt::format("loader: dataset '{}' is empty", dataset_->name()));
  if (o.drop_last && n < g)
    throw DataError(fmt::format(
        "loader: dataset '{}' has {} samples, fewer than batch_size {} x world_size {} = {}; "
        "with drop_last an epoch would have no batch",
        dataset_->name(), n, o.batch_size, o.world_size, g));
  batches_per_epoch_ = o.drop_last ? n / g : (n + g - 1) / g;
  if (o.workers > 0) pool_ = std::make_unique<Pool>(o.workers);
  start_epoch(0);
}

Loader::~Loader() {
  reset_prefetch();
  pool_.reset();
}

std::vector<size_t> Loader::global_order(uint64_t epoch) const {
  const size_t n = dataset_->size();
  std::vector<size_t> perm(n);
  std::iota(perm.begin(), perm.end(), size_t{0});
  if (options_.shuffle) {
    Rng rng(derive_seed(options_.seed, "order", epoch));
    for (size_t i = n; i > 1; --i) {  // Fisher-Yates
      const auto j = static_cast<size_t>(rng.integer(0, static_cast<int64_t>(i) - 1));
      std::swap(perm[i - 1], perm[j]);
    }
  }
  const auto len =
      static_cast<size_t>(batches_per_epoch_ * options_.batch_size * options_.world_size);
  std::vector<size_t> order(len);
  for (size_t i = 0; i < len; ++i) order[i] = perm[i % n];  // wraps only when padding
  return order;
}

std::vector<size_t> Loader::shard(uint64_t epoch) const {
  const std::vector<size_t> order = global_order(epoch);
  const auto b = static_cast<size_t>(options_.batch_size);
  const size_t g = b * static_cast<size_t>(options_.world_size);
  const size_t r = static_cast<size_t>(options_.rank);
  std::vector<size_t> out;
  out.reserve(static_cast<size_t>(batches_per_epoch_) * b);
  for (size_t s = 0; s < static_cast<size_t>(batches_per_epoch_); ++s)
    for (size_t k = 0; k < b; ++k) out.push_back(order[s * g + r * b + k]);
  return out;
}

void Loader::start_epoch(uint64_t epoch) { set_position(epoch, 0); }

Batch Loader::next_rolling() {
  auto batch = next();
  if (!batch) {
    start_epoch(epoch_ + 1);
    batch = next();  // batches_per_epoch() >= 1 (the constructor refuses smaller datasets)
  }
  return std::move(*batch);
}

void Loader::set_position(uint64_t epoch, int64_t batch_index) {
  if (batch_index < 0 || batch_index > batches_per_epoch_)
    throw Error(fmt::format("loader: batch index {} outside [0, {}] for dataset '{}'", batch_index,
                            batches_per_epoch_, dataset_->name()));
  reset_prefetch();
  if (shard_.empty() || epoch != epoch_) shard_ = shard(epoch);
  epoch_ = epoch;
  batch_index_ = batch_index;
}

void Loader::reset_prefetch() {
  for (auto& p : pending_) p->cancelled->store(true);
  pending_.clear();
}

void Loader::fill_prefetch() {
  if (!pool_) return;
  const auto b = static_cast<size_t>(options_.batch_size);
  while (static_cast<int64_t>(pending_.size()) < options_.prefetch) {
    const int64_t batch = batch_index_ + static_cast<int64_t>(pending_.size());
    if (batch >= batches_per_epoch_) break;
    auto p = std::make_unique<Pending>();
    p->batch = batch;
    for (size_t k = 0; k < b; ++k) {
      const size_t index = shard_[static_cast<size_t>(batch) * b + k];
      auto task = std::make_shared<std::packaged_task<Sample()>>(
          [ds = dataset_, index, epoch = epoch_, cancelled = p->cancelled, skip = options_.skip_bad,
           bad = bad_]() -> Sample {
            if (cancelled->load()) return Sample{};
            return fetch(*ds, index, epoch, skip, *bad);
          });
      p->samples.push_back(task->get_future());
      pool_->submit([task] { (*task)(); });
    }
    pending_.push_back(std::move(p));
  }
}

std::optional<Batch> Loader::next() {
  if (batch_index_ >= batches_per_epoch_) return std::nullopt;
  const auto b = static_cast<size_t>(options_.batch_size);
  std::vector<Sample> samples;
  samples.reserve(b);
  if (!pool_) {
    for (size_t k = 0; k < b; ++k)
      samples.push_back(fetch(*dataset_, shard_[static_cast<size_t>(batch_index_) * b + k], epoch_,
                              options_.skip_bad, *bad_));
  } else {
    fill_prefetch();
    std::unique_ptr<Pending> p = std::move(pending_.front());
    pending_.erase(pending_.begin());
    try {
      for (auto& f : p->samples) samples.push_back(f.get());  // rethrows a sample's error
    } catch (...) {
      p->cancelled->store(true);
      reset_prefetch();  // a retry starts again from this batch
      throw;
    }
  }
  ++batch_index_;
  fill_prefetch();
  return collate(std::move(samples));
}

}  // namespace dmgn::data

namespace dmgn::data {

std::unique_ptr<BatchStream> open_stream(std::shared_ptr<const Dataset> dataset, const LoaderOptions& options) {
  if (auto own = dataset->make_stream(options)) return own;
  return std::make_unique<Loader>(std::move(dataset), options);
}

}  // namespace dmgn::data
