#pragma once
// The interface every restoration system in the registry implements (kind "model"), so the
// trainer, evaluator and reports treat DMGN, its ablations and the other seed systems alike.
// Images are in model space (see input_range): the trainer converts from [0, 1].
#include <torch/torch.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/registry.h"
#include "nn/vgg.h"

namespace dmgn::models {

struct ModelOutput {
  torch::Tensor background;         // B: the final restored background
  torch::Tensor coarse;             // B_coarse (equals B when there is no refining phase)
  torch::Tensor noise;              // R: the generated noise layer (undefined without one)
  torch::Tensor separator_mask;     // A of Eq. 2 (undefined without a separator)
  torch::Tensor background_map;     // A_b = 1 - A_r of Eq. 9 (undefined without NDM)
  std::vector<torch::Tensor> coarse_masks, refine_masks;  // RDMC masks, in order (Fig. 1)
};

enum class InputRange { minus_one_one, zero_one };

class Model : public torch::nn::Module {
 public:
  virtual ModelOutput forward(const torch::Tensor& input) = 0;
  // The frozen VGG-19 the model holds (for sharing with the perceptual loss); may be null.
  virtual nn::Vgg19 vgg() const = 0;
  // Whether the model has a refining phase (decides which loss terms apply).
  virtual bool has_refine() const = 0;
  virtual bool has_noise() const = 0;
  InputRange input_range() const { return range_; }
  // [0,1] images <-> model space.
  torch::Tensor to_model(const torch::Tensor& x01) const;
  torch::Tensor from_model(const torch::Tensor& x) const;
  // Parameters that exist only to mirror the official layout and never run.
  virtual int64_t vestigial_parameters() const { return 0; }

 protected:
  InputRange range_ = InputRange::minus_one_one;
};
using ModelPtr = std::shared_ptr<Model>;

InputRange input_range_from_string(const std::string& s);

// registry "model": factory(full config).
using ModelRegistry = Registry<ModelPtr, const Config&>;
ModelRegistry& models();

// Builds config's model.name and loads the VGG weights named in model.head.vgg_weights.
ModelPtr build_model(const Config& cfg);

// The smallest input height and width a configured model takes, and why (its largest
// reflection padding, the depth of its poolings): datasets opened for the model refuse smaller
// samples by name (data::Dataset::require_min_side), so they follow data.on_bad_sample and
// `dmgn data check` reports them, instead of failing inside a padding op. Computed from the
// config alone (no model is built); a model registers its rule next to its factory.
struct InputRequirement {
  int64_t min_side = 1;
  std::string why;
};
using InputRequirementRule = std::function<InputRequirement(const Config& /*full config*/)>;
void register_input_requirement(const std::string& model_name, InputRequirementRule rule);
// For config's model.name; {1, ""} for a model that registered no rule.
InputRequirement input_requirement(const Config& cfg);

}  // namespace dmgn::models
