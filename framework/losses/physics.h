#pragma once
// Physics operators H (registry kind "physics"): Physics-GAN's image formation models (Pan et
// al., TPAMI 2020, Eq. 1, 7), applied to the generator's output in model space with the
// parameters the synthesis kept in the sample, so that y~ = H(G(y)) can be compared with the
// observed y (Eq. 8) and fed back to G (Eq. 10). Every operator is differentiable in x.
//   blur        y~ = k (x) x: reflect padding by (K-1)/2, then per-sample, per-channel
//               cross-correlation with the sample's kernel (field blur_kernel, N x 1 x K x K,
//               renormalised to sum 1), as the reference's cycle_gan_model_deblur does. Exact in
//               either input range (a normalised kernel commutes with x -> 2x - 1).
//   haze        y~ = x t + A (1 - t) with the sample's transmission t (N x 1|3 x H x W, in
//               [0, 1]) and airlight A (N x 3 x 1 x 1, given in [0, 1], mapped into the model's
//               range as the reference's [-1, 1] atmos images are).
//   sr_bicubic  y~ = up(down(x)), bicubic by synth.sr_bicubic.scale in its convention
//               (data/bicubic.h): the same keys the sr_bicubic synthesis reads.
//   rain        refused: the paper trains deraining but publishes no physics operator for it.
//   none        no operator (BaseGAN, Table 8): the factory returns null.
//   auto        the operator of task.name (physics_for_task).
#include <torch/torch.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/registry.h"
#include "models/model.h"

namespace dmgn::losses {

class PhysicsOperator {
 public:
  virtual ~PhysicsOperator() = default;
  // H(x) for x (N x 3 x H x W, model space) and this batch's fields (model space images, other
  // fields as the dataset gives them); Error naming the missing field.
  virtual torch::Tensor apply(const torch::Tensor& x, const std::map<std::string, torch::Tensor>& batch) const = 0;
  // The batch fields apply() reads.
  virtual std::vector<std::string> fields() const = 0;
  virtual std::string name() const = 0;
};
using PhysicsPtr = std::shared_ptr<const PhysicsOperator>;

// registry "physics": factory(full config, the model's input range); null for "none".
using PhysicsRegistry = Registry<PhysicsPtr, const Config&, models::InputRange>;
PhysicsRegistry& physics_operators();

// The operator for a task ("blur" -> blur, "haze" -> haze, "sr" -> sr_bicubic, "rain" -> rain);
// ConfigError naming `key` for a task without one.
std::string physics_for_task(const std::string& task, const std::string& key);

void register_physics_operators();

}  // namespace dmgn::losses
