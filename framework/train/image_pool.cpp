#include "train/image_pool.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/error.h"

namespace dmgn::train {

ImagePoolImpl::ImagePoolImpl(int64_t capacity, std::vector<int64_t> image_shape)
    : capacity_(capacity), shape_(std::move(image_shape)) {
  if (capacity_ < 0) throw ConfigError("image pool: the capacity must be >= 0");
  std::vector<int64_t> full{capacity_};
  full.insert(full.end(), shape_.begin(), shape_.end());
  images_ = register_buffer("images", torch::zeros(full));
  count_ = register_buffer("count", torch::zeros({}, torch::kInt64));
}

int64_t ImagePoolImpl::size() const { return count_.item<int64_t>(); }

torch::Tensor ImagePoolImpl::query(const torch::Tensor& images) {
  if (capacity_ == 0) return images;
  torch::NoGradGuard guard;
  const auto batch = images.detach();
  if (batch.dim() != static_cast<int64_t>(shape_.size()) + 1 ||
      batch.sizes().slice(1) != c10::IntArrayRef(shape_))
    throw DataError(fmt::format("image pool: images of shape {} do not fit a pool of {} images (fixed training "
                                "crops are needed)",
                                fmt::join(batch.sizes(), "x"), fmt::join(shape_, "x")));
  if (images_.dtype() != batch.dtype() || images_.device() != batch.device()) images_.set_data(images_.to(batch.options()));
  // Rows of the answer: the new image itself (stacked below, which copies it) or a stored one
  // (cloned before the new image overwrites its slot).
  std::vector<torch::Tensor> out;
  int64_t n = known_full_ ? capacity_ : count_.item<int64_t>();
  const int64_t before = n;
  for (int64_t i = 0; i < batch.size(0); ++i) {
    const auto img = batch[i];
    if (n < capacity_) {
      images_[n].copy_(img);
      ++n;
      out.push_back(img);
      continue;
    }
    if (torch::rand({1}, torch::kFloat64).item<double>() > 0.5) {
      const int64_t id = torch::randint(0, capacity_, {1}, torch::kInt64).item<int64_t>();
      out.push_back(images_[id].clone());
      images_[id].copy_(img);
    } else {
      out.push_back(img);
    }
  }
  if (n != before) count_.fill_(n);
  known_full_ = n == capacity_;
  return torch::stack(out);
}

}  // namespace dmgn::train
