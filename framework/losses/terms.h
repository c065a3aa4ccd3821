#pragma once
// Loss terms from config: every [loss.terms.NAME] table is one weighted term of the training
// objective, evaluated on named model outputs and named batch tensors:
//   loss        a registered loss (`dmgn list loss`)
//   output      the model output it scores (models/outputs.h); a list output (per iteration or
//               scale) is scored item by item with weight decay^(N-1-i) on item i of N
//   target      the batch tensor it compares with ("background", "noise", "input", ...)
//   condition   for adversarial losses: the batch tensor the critic is conditioned on ("" for
//               an unconditioned discriminator)
//   module      for adversarial losses: the recipe's discriminator module it uses
//   weight      0 disables the term (a Table I toggle); the term is then not computed
//   order       its place in the sum (then by name), so totals are reproducible
//   phase       the update it belongs to (the recipe's phases; DMGN: "generator")
//   optional    a term whose output the model does not declare, or whose target a batch
//               lacks, is dropped instead of refused (DMGN's refine terms on "Coarse"), and
//               the drop is said (plan_terms; evaluate logs a batch-dependent drop once)
// Names are checked whatever the weight: an output must be one the model kind can produce in
// some configuration (models::register_output_names), a target or condition one some dataset
// or synthesis can provide (data::field::all()); anything else is a typo, refused naming the
// key, the value and the nearest known name, so `optional` never hides it.
// A target image larger than the output by an integer factor (multi-scale side outputs, e.g.
// Location-aware SIRR's frames at H/2 and H/4) is area-downscaled to the output's size; any
// other size mismatch is refused naming the term. Losses deriving from BatchLoss also see the
// whole batch (composition losses).
// DMGN's Eq. 15-17 are the default list (systems/dmgn/dmgn.schema.toml). Losses receive one context:
// the model's shared VGG, its input range, and a physics operator when a recipe has one.
#include <torch/torch.h>

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/config.h"
#include "losses/losses.h"
#include "models/model.h"

namespace dmgn::losses {

struct TermSpec {
  std::string name, loss, output, target, condition, module, phase;
  double weight = 0, decay = 1;
  int64_t order = 0;
  bool optional = false;
};

// Every [loss.terms.NAME] of cfg, in summation order (order, then name).
std::vector<TermSpec> term_specs(const Config& cfg);

// A term of the config that does not train this model, and why (one line).
struct DroppedTerm {
  std::string name, reason;
};
// cfg's terms for a model declaring `spec` (what TermSet trains, `dmgn info` lists): every
// term's names checked (ConfigError naming the key for a typo, see above); `active`: weight > 0
// and output declared; `dropped`: optional terms on an output this configuration of the model
// does not declare (a required one is a ConfigError).
struct TermPlan {
  std::vector<TermSpec> active;
  std::vector<DroppedTerm> dropped;
};
TermPlan plan_terms(const Config& cfg, const models::ModelSpec& spec);

// The smallest training input (unpadded crops) for cfg's model with these terms: the model's
// own (models::input_requirement) raised to what each active term's loss takes on its output
// (loss_need: VGG poolings, SSIM window, the critic) times how much smaller than the input that
// output is (InputRequirement::downscale), rounded up to the model's multiple; `why` names the
// term that decides it. train::check_crop_fits_training refuses data.crop below it.
models::InputRequirement training_requirement(const Config& cfg, const TermPlan& plan);

// Named tensors of one batch in model space ("input", "background", "noise", ...).
using NamedTensors = std::map<std::string, torch::Tensor>;

struct TermValues {
  torch::Tensor total;
  std::vector<std::pair<std::string, torch::Tensor>> terms;  // weighted, fp32, by name
  // [total, term_1, ..., term_n] as doubles, read from the device in one transfer (one sync).
  std::vector<double> values() const;
  void add(const std::string& name, torch::Tensor weighted);
};

// The active terms of a config for a model: weight > 0 and output declared (or refused with
// the term's name). Pixel losses and critics are built once, sharing the context.
class TermSet {
 public:
  TermSet(const Config& cfg, const models::Model& model);
  // With an explicit context (a recipe that holds the VGG-19 for a model without one).
  TermSet(const Config& cfg, const models::Model& model, const LossContext& ctx);
  // The adversarial terms' discriminator modules, by name (empty without adversarial terms).
  std::vector<std::string> discriminators() const;
  // The phase's terms on `out` and `batch`; discriminators by module name (frozen by the caller).
  TermValues evaluate(const std::string& phase, const models::Outputs& out, const NamedTensors& batch,
                      const std::map<std::string, nn::Discriminator*>& discs) const;
  // The critic losses of the adversarial terms using discriminator `module` (Eq. 14 for DMGN),
  // on detached outputs; undefined when none applies to this batch.
  torch::Tensor critic(const std::string& module, const models::Outputs& out, const NamedTensors& batch,
                       nn::Discriminator& d) const;
  // After each critic step of `module` (weight clipping, when configured).
  void after_critic_step(const std::string& module, nn::Discriminator& d) const;
  const std::vector<TermSpec>& active() const { return active_; }
  // Optional terms dropped for this model's configuration (plan_terms).
  const std::vector<DroppedTerm>& dropped() const { return dropped_; }

 private:
  struct Built {
    PixelLossPtr pixel;
    std::shared_ptr<BatchLoss> batch;
    std::shared_ptr<CriticLoss> critic;
  };
  // Logs, once per term, that an optional term was dropped from a batch lacking `field`.
  void note_batch_drop(const TermSpec& s, const std::string& field) const;
  std::vector<TermSpec> active_;
  std::vector<Built> built_;  // parallel to active_
  std::vector<DroppedTerm> dropped_;
  mutable std::mutex noted_mutex_;
  mutable std::set<std::string> noted_;  // terms whose batch-dependent drop was logged
};

}  // namespace dmgn::losses
