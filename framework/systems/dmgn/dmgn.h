#pragma once
// DMGN (Feng et al., TIP 2021) and its Table I ablations as one configurable composition:
//   F = F(I); F_b, F_r = S(F); B_coarse = G_b(F_b); R = G_r(F_r)            (Eq. 1-2)
//   E = concat[F(B_coarse), ACA(F_b), -ACA(F(R))]                            (Eq. 6-8)
//   A_r = NDM(F(I), F(R)); A_b = 1 - A_r                                     (Eq. 9)
//   B = G_refine(E; A_b) + I   with masks fused by Eq. 10                    (Eq. 3)
// Task presets follow the official files: reflection adds I to B_coarse and R (features of
// those), uses NDM and a tanh refine output; rain/haze use raw B_coarse and R, no NDM, no tanh.
#include "models/model.h"
#include "nn/attention.h"
#include "nn/generators.h"
#include "nn/head.h"

namespace dmgn::models {

class Dmgn : public Model {
 public:
  explicit Dmgn(const Config& cfg);
  // Outputs: "background" (B, with a refining phase), "coarse" (B_coarse; the primary output
  // without one), "noise" (R), "separator_mask" (A), "background_map" (A_b), and the lists
  // "coarse_masks" / "refine_masks" (RDMC masks, Fig. 1).
  models::Outputs forward(const torch::Tensor& input) override;
  nn::Vgg19 shared_vgg() const override { return head_->vgg(); }
  int64_t vestigial_parameters() const override;
  // The official DMGN code's state dicts (systems/dmgn/official_import.h: explicit name map).
  int64_t import_reference(const std::map<std::string, torch::Tensor>& state, const std::string& source) override;

 private:
  bool noise_branch_, coarse_residual_;
  bool use_coarse_src_ = false, use_fb_src_ = false, use_r_src_ = false, use_aca_ = false;
  bool use_ndm_ = false;
  nn::HeadPtr head_;
  std::shared_ptr<nn::SeparatorImpl> separator_;
  nn::GeneratorPtr gen_b_, gen_r_, refine_;
  std::shared_ptr<nn::AcaImpl> aca_;
  std::shared_ptr<nn::NdmImpl> ndm_;
  bool ndm_vestigial_ = false;
  void declare(const Config& cfg);
};

// The smallest input DMGN takes under `cfg` (models/model.h): the VGG-19 head's poolings up to
// its deepest tap (2^pools), the reflection padding at the encoder's deepest level (2^levels +
// 1: ceil(H / 2^levels) >= 2), G_refine's largest dilation (reflection padding = dilation, so
// dilation + 1) and ACA's f_conv. Any side from there works, unpadded too (multiple 1).
InputRequirement dmgn_input_requirement(const Config& cfg);

}  // namespace dmgn::models
