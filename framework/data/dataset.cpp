#include "data/dataset.h"

#include <fmt/format.h>
#include <fmt/ranges.h>  // fmt::join (its home since fmt 11)

#include <algorithm>

#include "core/error.h"

namespace dmgn::data {

const char* split_name(Split split) {
  switch (split) {
    case Split::train:
      return "train";
    case Split::heldout:
      return "heldout";
  }
  return "?";
}

Sample require_finite(Sample s, const std::string& dataset) {
  for (const auto& [name, t] : {std::pair<const char*, const torch::Tensor*>{"input", &s.input},
                                {"background", &s.background}, {"noise", &s.noise}})
    if (t->defined() && !torch::isfinite(*t).all().item<bool>())
      throw DataError(fmt::format("sample '{}' of dataset '{}': its {} has non-finite values (NaN or Inf)", s.id,
                                  dataset, name));
  return s;
}

namespace {

// The input's height and width (0 x 0 when it has none).
std::pair<int64_t, int64_t> input_size(const Sample& s) {
  if (!s.input.defined() || s.input.dim() < 2) return {0, 0};
  return {s.input.size(-2), s.input.size(-1)};
}

}  // namespace

Sample Dataset::get(size_t index, uint64_t epoch) const {
  Sample s = require_finite(make(index, epoch), name());
  const auto [h, w] = input_size(s);
  if (const auto problem = size_problem(h, w, s.id); !problem.empty()) throw DataError(problem);
  return s;
}

void Dataset::require_min_side(int64_t side, std::string why) {
  min_side_ = std::max<int64_t>(1, side);
  min_side_why_ = std::move(why);
}

std::string Dataset::size_problem(int64_t h, int64_t w, const std::string& id) const {
  if (min_side_ <= 1 || h == 0 || (h >= min_side_ && w >= min_side_)) return "";
  return fmt::format("sample '{}' of dataset '{}' is {}x{} (width x height), smaller than the {}x{} the model takes{}",
                     id, name(), w, h, min_side_, min_side_, min_side_why_.empty() ? "" : " (" + min_side_why_ + ")");
}

std::vector<DataIssue> Dataset::check(size_t index) const {
  try {
    const Sample s = require_finite(make(index, 0), name());
    const auto [h, w] = input_size(s);
    if (const auto problem = size_problem(h, w, s.id); !problem.empty()) return {DataIssue{"too_small", s.id, problem}};
    return {};
  } catch (const DataError& e) {
    return {DataIssue{"sample", std::to_string(index), e.what()}};
  } catch (const IoError& e) {
    return {DataIssue{"sample", std::to_string(index), e.what()}};
  }
}

DatasetRegistry& datasets() {
  static DatasetRegistry registry("dataset");
  return registry;
}

namespace {

std::string shape_of(const torch::Tensor& t) {
  return t.defined() ? fmt::format("{}", fmt::join(t.sizes(), "x")) : std::string("undefined");
}

}  // namespace

Batch collate(std::vector<Sample> samples) {
  if (samples.empty()) throw DataError("collate: no samples to batch");
  // Reference shapes, copied before the samples' tensors are moved into the batch.
  const std::string first_id = samples.front().id;
  const std::vector<int64_t> shape = samples.front().input.defined()
                                         ? samples.front().input.sizes().vec()
                                         : std::vector<int64_t>{};
  const bool has_noise = samples.front().noise.defined();
  const std::string first_shape = fmt::format("{}", fmt::join(shape, "x"));
  std::vector<torch::Tensor> in, bg, nz;
  Batch batch;
  for (auto& s : samples) {
    if (!s.input.defined() || !s.background.defined())
      throw DataError(fmt::format("collate: sample '{}' lacks an input or background", s.id));
    if (s.input.sizes().vec() != shape || s.background.sizes().vec() != shape)
      throw DataError(
          fmt::format("collate: sample '{}' has input {} / background {} but sample '{}' has {}",
                      s.id, shape_of(s.input), shape_of(s.background), first_id, first_shape));
    if (s.noise.defined() != has_noise || (has_noise && s.noise.sizes().vec() != shape))
      throw DataError(fmt::format("collate: sample '{}' has noise {} but sample '{}' {}", s.id,
                                  shape_of(s.noise), first_id,
                                  has_noise ? "has noise " + first_shape : "has none"));
    in.push_back(std::move(s.input));
    bg.push_back(std::move(s.background));
    if (has_noise) nz.push_back(std::move(s.noise));
    batch.ids.push_back(std::move(s.id));
  }
  batch.input = torch::stack(in);
  batch.background = torch::stack(bg);
  if (has_noise) batch.noise = torch::stack(nz);
  return batch;
}

}  // namespace dmgn::data
