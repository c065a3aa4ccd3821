#pragma once
// What a model returns and what it declares about itself, so that training, evaluation,
// `visualize`, `bench model` and `parity` read any model the same way (no model's slots by
// name in the trainer):
//   Outputs    named tensors and named tensor lists (per iteration, per scale, per mask...);
//   ModelSpec  the outputs it may produce (kind, what each is, the reference tool's name for
//              it), the primary output that evaluation scores, its input range, the size
//              multiple its inputs are padded to, and its metric task.
#include <torch/torch.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace dmgn::models {

class Outputs {
 public:
  // Sets (or replaces) a tensor; an undefined tensor removes the key.
  void set(const std::string& key, torch::Tensor t);
  void set_list(const std::string& key, std::vector<torch::Tensor> ts);
  bool has(const std::string& key) const;  // a defined tensor or a non-empty list
  // The tensor under `key`; Error naming the key and the keys there are when absent.
  const torch::Tensor& at(const std::string& key) const;
  // The tensor under `key`, undefined when absent.
  torch::Tensor get(const std::string& key) const;
  // The list under `key`, or a list holding the tensor under `key`; empty when absent.
  std::vector<torch::Tensor> list(const std::string& key) const;
  // Every tensor, lists flattened as key[i], in the order they were set.
  std::vector<std::pair<std::string, torch::Tensor>> flat() const;
  std::vector<std::string> keys() const;
  // Applies f to every tensor (e.g. moving them to the CPU).
  void apply(const std::function<torch::Tensor(const torch::Tensor&)>& f);

 private:
  std::vector<std::pair<std::string, torch::Tensor>> tensors_;
  std::vector<std::pair<std::string, std::vector<torch::Tensor>>> lists_;
};

enum class InputRange { minus_one_one, zero_one };

struct OutputDecl {
  enum class Kind { image, mask, map };  // image: model space, like the input; mask/map: [0, 1]
  std::string key;
  Kind kind = Kind::image;
  bool list = false;      // a tensor list (per iteration, scale or mask)
  std::string what;       // e.g. "B_coarse, the coarse background (Eq. 1)"
  std::string reference;  // its name in the reference implementation's outputs (parity), or ""
};

struct ModelSpec {
  std::vector<OutputDecl> outputs;   // what forward() may return
  std::string primary = "background";  // the restored image evaluation scores
  InputRange input_range = InputRange::minus_one_one;
  int64_t size_multiple = 1;  // inputs are reflection-padded to a multiple of this
  std::string task;           // metric task (task.name): which conventions score it
  int64_t iterations = 1;     // recurrent passes of one set of weights per forward (info
                              // prints the MACs per iteration)
  // For a model of local operations only (convolutions, strided or pooled, no global pooling
  // or normalisation over the image): how far (px) an output pixel sees in every direction.
  // Evaluation then restores an image too large for memory in tiles overlapping by at least
  // this much, exactly as at full size (train/tiling.h). -1: the model has global operations
  // (DMGN's ACA pooling, instance norm, ...) and an image too large for memory is refused.
  int64_t receptive_radius = -1;
  const OutputDecl* find(const std::string& key) const;
  bool declares(const std::string& key) const { return find(key) != nullptr; }
};

}  // namespace dmgn::models
