#include "data/dataset.h"

#include "data/batch_stream.h"

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

bool field::is_image(const std::string& name) {
  return name == field::input || name == field::background || name == field::noise || name == field::reflection;
}

const std::vector<std::string>& field::all() {
  static const std::vector<std::string> names{field::input,        field::background, field::noise,
                                              field::reflection,   field::transmission, field::airlight,
                                              field::depth,        field::blur_kernel,  field::alpha};
  return names;
}

torch::Tensor Fields::get(const std::string& name) const {
  const auto it = tensors_.find(name);
  return it == tensors_.end() ? torch::Tensor() : it->second;
}

const torch::Tensor& Fields::at(const std::string& name, const std::string& who) const {
  const auto it = tensors_.find(name);
  if (it == tensors_.end())
    throw DataError(fmt::format("{} has no '{}' (it has: {})", who, name, fmt::join(names(), ", ")));
  return it->second;
}

void Fields::set(const std::string& name, torch::Tensor t) {
  if (t.defined()) tensors_[name] = std::move(t);
  else tensors_.erase(name);
}

std::vector<std::string> Fields::names() const {
  std::vector<std::string> out;
  for (const auto& [k, v] : tensors_) out.push_back(k);
  return out;
}

Sample::Sample(torch::Tensor input, torch::Tensor background, torch::Tensor noise, std::string id_,
               std::string task_)
    : id(std::move(id_)), task(std::move(task_)) {
  set(field::input, std::move(input));
  set(field::background, std::move(background));
  set(field::noise, std::move(noise));
}

Sample require_finite(Sample s, const std::string& dataset) {
  for (const auto& [name, t] : s.fields.all())
    if (t.is_floating_point() && !torch::isfinite(t).all().item<bool>())
      throw DataError(fmt::format("sample '{}' of dataset '{}': its {} has non-finite values (NaN or Inf)", s.id,
                                  dataset, name));
  return s;
}

namespace {

// The input's height and width (0 x 0 when it has none).
std::pair<int64_t, int64_t> input_size(const Sample& s) {
  const torch::Tensor in = s.input();
  if (!in.defined() || in.dim() < 2) return {0, 0};
  return {in.size(-2), in.size(-1)};
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

void Dataset::note_max_pixels(int64_t pixels, std::string why) {
  max_pixels_ = std::max<int64_t>(0, pixels);
  max_pixels_why_ = std::move(why);
}

std::string Dataset::large_problem(int64_t h, int64_t w, const std::string& id) const {
  if (max_pixels_ <= 0 || h * w <= max_pixels_) return "";
  return fmt::format("sample '{}' of dataset '{}' is {}x{} (width x height), more than the {:.1f} megapixels the "
                     "model can restore in the memory it may use ({}): evaluation leaves it out under "
                     "data.on_bad_sample = \"skip\" and stops at it under \"fail\"",
                     id, name(), w, h, static_cast<double>(max_pixels_) / 1e6, max_pixels_why_);
}

std::unique_ptr<BatchStream> Dataset::make_stream(const LoaderOptions&) const { return nullptr; }

std::vector<DataIssue> Dataset::check(size_t index) const {
  try {
    const Sample s = require_finite(make(index, 0), name());
    const auto [h, w] = input_size(s);
    if (const auto problem = size_problem(h, w, s.id); !problem.empty()) return {DataIssue{"too_small", s.id, problem}};
    if (const auto problem = large_problem(h, w, s.id); !problem.empty()) return {DataIssue{"too_large", s.id, problem}};
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
  // Reference fields and shapes, copied before the samples' tensors are moved into the batch.
  const Sample& first = samples.front();
  const std::string first_id = first.id;
  const std::vector<std::string> names = first.fields.names();
  std::map<std::string, std::vector<int64_t>> shapes;
  for (const auto& [name, t] : first.fields.all()) shapes[name] = t.sizes().vec();
  std::map<std::string, std::vector<torch::Tensor>> stacks;
  Batch batch;
  for (auto& s : samples) {
    if (!s.has(field::input) || !s.has(field::background))
      throw DataError(fmt::format("collate: sample '{}' lacks an input or background", s.id));
    for (const auto& [name, t] : s.fields.all()) {
      const auto it = shapes.find(name);
      if (it == shapes.end())
        throw DataError(fmt::format("collate: sample '{}' has {} {} but sample '{}' has none", s.id, name,
                                    shape_of(t), first_id));
      if (t.sizes().vec() != it->second)
        throw DataError(fmt::format("collate: sample '{}' has {} {} but sample '{}' has {}", s.id, name, shape_of(t),
                                    first_id, fmt::join(it->second, "x")));
      stacks[name].push_back(t);
    }
    for (const auto& name : names)
      if (!s.has(name))
        throw DataError(fmt::format("collate: sample '{}' has no {} but sample '{}' has {} {}", s.id, name, first_id,
                                    name, fmt::join(shapes[name], "x")));
    batch.ids.push_back(std::move(s.id));
    batch.tasks.push_back(std::move(s.task));
  }
  for (auto& [name, list] : stacks) batch.fields.set(name, torch::stack(list));
  return batch;
}

}  // namespace dmgn::data
