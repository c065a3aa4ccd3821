#pragma once
// The interface every restoration system in the registry implements (kind "model"), so the
// trainer, evaluator and reports treat DMGN, its ablations and the other seed systems alike.
// Images are in model space (see input_range): the trainer converts from [0, 1]. A model is new
// files plus a registration: its factory (models()), its smallest input
// (register_input_requirement) and what it outputs (its ModelSpec).
#include <torch/torch.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/config.h"
#include "core/registry.h"
#include "models/outputs.h"
#include "nn/vgg.h"

namespace dmgn::models {

// A model returns named outputs and declares them (models/outputs.h); nothing outside a model
// reads its outputs by a slot of its own.
class Model : public torch::nn::Module {
 public:
  virtual Outputs forward(const torch::Tensor& input) = 0;
  // What it outputs, its primary output, input range, size multiple and metric task.
  const ModelSpec& spec() const { return spec_; }
  // A frozen VGG-19 the model holds that losses may share (the perceptual loss); null if none.
  virtual nn::Vgg19 shared_vgg() const { return nullptr; }
  InputRange input_range() const { return spec_.input_range; }
  // [0,1] images <-> model space.
  torch::Tensor to_model(const torch::Tensor& x01) const;
  torch::Tensor from_model(const torch::Tensor& x) const;
  // The primary output (the restored image) of forward(), in model space.
  torch::Tensor restore(const torch::Tensor& input) { return forward(input).at(spec_.primary); }
  // Parameters that exist only to mirror the official layout and never run.
  virtual int64_t vestigial_parameters() const { return 0; }
  // Parameters the model holds for its losses alone, which forward() never runs (IBCLN's frozen
  // VGG-19 of the perceptual loss): not part of the network a complexity table counts.
  virtual int64_t loss_only_parameters() const { return 0; }
  // Named parameter counts of the model's sections as its paper reports them (MBN's Table 7:
  // input branches, stem, output branches), printed by `dmgn info`; empty = none.
  virtual std::vector<std::pair<std::string, int64_t>> parameter_sections() const { return {}; }
  // Copies a state dict saved by the system's reference code into this model (`dmgn
  // import-official`, `dmgn parity`); returns the number of tensors copied, throws DataError
  // naming `source` and the tensor otherwise. Default: by parameter name (models/import.h), for
  // systems whose parameter names are the reference's; a system with its own mapping overrides it.
  virtual int64_t import_reference(const std::map<std::string, torch::Tensor>& state, const std::string& source);

 protected:
  ModelSpec spec_;  // filled by the model's constructor
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
// The model's own limit; training also needs what its loss terms and critic take
// (losses::training_requirement, checked by train::check_crop_fits_training).
// Two paths take images: evaluation (and `visualize`) reflection-pads each image to a multiple
// of ModelSpec::size_multiple, so every side >= min_side works there; training feeds its crops
// (data.crop) unpadded, so a training side must also be a multiple of `multiple`
// (train::check_crop_fits_model). min_side is itself a multiple of `multiple`, and every side
// >= min_side that is a multiple of `multiple` runs forward and backward.
struct InputRequirement {
  int64_t min_side = 1;
  std::string why;
  int64_t multiple = 1;  // unpadded sides (training crops) must be multiples of this
  std::string multiple_why;
  // Outputs smaller than the input, by the factor (Location-aware SIRR's "frame_quarter": 4; a
  // list: its smallest item): a loss term on one needs the input that much larger
  // (losses::training_requirement). Absent: the input's size.
  std::map<std::string, int64_t> downscale;
  // "" when an unpadded h x w input fits, else why not (one clause, no key named).
  std::string refuses(int64_t h, int64_t w) const;
};
using InputRequirementRule = std::function<InputRequirement(const Config& /*full config*/)>;
void register_input_requirement(const std::string& model_name, InputRequirementRule rule);
// For config's model.name; {1, ""} for a model that registered no rule.
InputRequirement input_requirement(const Config& cfg);

// Every output name a model kind can declare in some configuration (the union of its
// ModelSpec::outputs over all configs), registered next to its factory: a loss term's
// `output` outside it is a typo (losses/terms.h), one inside it that this configuration does
// not declare may be dropped by an `optional` term. A name ending in '*' is a prefix pattern
// (R-MBN's "stage_*": "stage_<task>" for each stage).
void register_output_names(const std::string& model_name, std::vector<std::string> names);
// What model_name registered (empty when nothing).
std::vector<std::string> output_names(const std::string& model_name);
// Whether `key` is one of model_name's output names (patterns matched); true for a model that
// registered none (nothing to check against).
bool can_output(const std::string& model_name, const std::string& key);

}  // namespace dmgn::models
