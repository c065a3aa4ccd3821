#pragma once
// The training objective of Sec. III-D:
//   L^r = a_L1^r L1(B, B_gt) + a_p^r L_p(B, B_gt) + a_adv^r L_adv(B, I)        (Eq. 15)
//   L^c = a_L1^c L1(B_c, B_gt) + a_p^c L_p(B_c, B_gt)                         (Eq. 16)
//         (+ the same terms on R against the noise ground truth, loss.coarse.noise)
//   L   = L^r + L^c                                                           (Eq. 17)
// Terms with weight 0 are not computed. Without a refining phase ("Coarse") only L^c applies.
#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

#include "core/config.h"
#include "losses/losses.h"
#include "models/model.h"
#include "nn/discriminators.h"

namespace dmgn::train {

struct ModelBatch {  // images in model space
  torch::Tensor input, background, noise;
};

struct LossTerms {
  torch::Tensor total;
  std::vector<std::pair<std::string, torch::Tensor>> terms;  // weighted, by name
  // [total, term_1, ..., term_n] as doubles, read from the device in one transfer (one sync).
  std::vector<double> values() const;
};

class Objective {
 public:
  Objective(const Config& cfg, models::Model& model);
  // Whether the refine-phase adversarial term is active (a discriminator is needed).
  bool adversarial() const { return w_adv_ > 0 && refine_; }
  LossTerms generator(const models::ModelOutput& out, const ModelBatch& batch,
                      nn::Discriminator* d) const;
  torch::Tensor critic(nn::Discriminator& d, const models::ModelOutput& out,
                       const ModelBatch& batch) const;
  // After each critic step (weight clipping, when configured).
  void after_critic_step(nn::Discriminator& d) const { adv_->constrain(d); }

 private:
  bool refine_, noise_;
  double w_l1_r_, w_p_r_, w_adv_, w_l1_c_, w_p_c_;
  losses::PixelLossPtr l1_, perceptual_;
  std::shared_ptr<losses::CriticLoss> adv_;
};

}  // namespace dmgn::train
