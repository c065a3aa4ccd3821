#pragma once
// Location-aware single image reflection removal (Dong et al., ICCV 2021), the reference
// code's network `LRM` (zdlarr/Location-aware-SIRR) run for N iterations with one set of
// weights. Inputs are in [0, 1]; H and W multiples of 8 (the 1/8 Laplacian scale).
//   T_0 = I; h_0 = c_0 = 0. Iteration i = 1..N, X_in = [I, T_{i-1}]:
//   Stage 1 (G_R): x = SE-ResBlocks(conv(X_in))                       (image branch)
//                  l = RDM(conv(MLSM(X_in)))                          (Eq. 4, Laplacian branch)
//                  C_i = sigmoid(conv(relu(conv(l))))                 (Eq. 5, the RCMap)
//                  l = TSM(l) * (1 - C_i)   [code; paper: * C_i]      (transmission suppression)
//                  h, c = ConvLSTM([x, l], h, c);  R_i = relu(conv(relu(conv(h))))
//   Stage 2 (G_T): T_i, frame_half, frame_quarter = AE([I, T_{i-1}, R_i, C_i or 1 - C_i])
//                  (contextual autoencoder with CBAM residual blocks and dilated convs).
// Parameter names are the reference's, so its state dicts load by name (import_reference).
// Table 2's ablations are config keys ([model] in location_sirr.schema.toml).
#include <map>
#include <vector>
#include <string>

#include "models/model.h"
#include "systems/location_sirr/sirr_blocks.h"

namespace dmgn::models {

class LocationSirr : public Model {
 public:
  explicit LocationSirr(const Config& cfg);
  // Outputs: "background" (T_N, primary), "noise" (R_N), "confidence" (C_N), the per-iteration
  // lists "background_iters" / "noise_iters" / "confidence_iters", and the last iteration's
  // side outputs "frame_half" (H/2) and "frame_quarter" (H/4) for the multi-scale perceptual
  // loss (Eq. 10). Raw network values: the reference clamps to [0, 1] only for display.
  Outputs forward(const torch::Tensor& input) override;
  // The MLSM kernel (Laplacian or edge), or undefined without an RDM: the parameter whose
  // gradient the paper clips (model.laplacian.grad_clip).
  torch::Tensor laplacian_kernel() const;
  // The reference's LRM.state_dict() by name, its ConvLSTM gates moved under "lstm." (below).
  int64_t import_reference(const std::map<std::string, torch::Tensor>& state, const std::string& source) override;

  // One iteration: from I, T_{i-1} and the ConvLSTM state (updated in place; undefined = zeros)
  // to T_i, R_i, C_i (undefined without an RDM) and the frames. forward() runs N of these.
  struct Step {
    torch::Tensor background, noise, confidence, frame_half, frame_quarter;
  };
  Step iterate(const torch::Tensor& input, const torch::Tensor& t_prev, nn::LstmState& state);

 private:
  struct Stage1 {
    torch::Tensor reflection, confidence;
  };
  Stage1 stage1(const torch::Tensor& input, const torch::Tensor& t_prev, nn::LstmState& state);
  std::vector<torch::Tensor> stage2(const torch::Tensor& x);

  int64_t iterations_ = 3;
  bool rdm_ = true, tsm_ = true, use_lstm_ = true, paper_convention_ = false, rcmap_from_image_ = false;
  nn::Mlsm mlsm_{nullptr};
  nn::Conv image_in_{nullptr}, lap_in_{nullptr}, rcmap0_{nullptr}, rcmap2_{nullptr}, r0_{nullptr}, r2_{nullptr};
  torch::nn::PReLU lap_prelu_{nullptr};
  std::vector<nn::SeResBlock> image_blocks_, rdm_blocks_, tsm_blocks_;
  torch::nn::PReLU shared_prelu_{nullptr};
  nn::ConvLstmCell lstm_cell_{nullptr};
  // Stage 2's convolutions, in the order of kStage2Convs (location_sirr.cpp); with the CBAM
  // blocks and deconvs: conv1, cbam0, conv2, conv3, cbam1-2, conv4-6, cbam3-5, diconv1-4,
  // conv7-8, outframe1, deconv1, conv9, outframe2, deconv2, conv10, output.
  std::vector<nn::Conv> convs_;
  std::vector<nn::CbamResBlock> cbam_;
  nn::Deconv deconv1_{nullptr}, deconv2_{nullptr};
};

// The smallest input: sides that are multiples of 8 (stage 2's two stride-2 levels, the MLSM's
// 1/8 scale; of every MLSM scale), 8 px the least (models/model.h). Training needs more: the
// perceptual loss on "frame_quarter" (1/4 of the input, `downscale`) and the critic
// (losses::training_requirement): 64 px with the paper's losses.
InputRequirement location_sirr_input_requirement(const Config& cfg);

// Copies a reference state dict (LRM.state_dict(), optionally with a "module." prefix) into
// `model` by name; every tensor of ours must be filled with one of the same shape, and every
// reference tensor must land, or an error names it. Returns the tensors copied.
int64_t import_reference(LocationSirr& model, const std::map<std::string, torch::Tensor>& state,
                         const std::string& source_name);

}  // namespace dmgn::models
