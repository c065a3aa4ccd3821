#pragma once
// IBCLN (Li, Yang, He, Lin and Hopcroft, "Single Image Reflection Removal through Cascaded
// Refinement", CVPR 2020; JHL-HUST/IBCLN models/IBCLN_model.py): two generators
// (systems/ibcln/generator.h), G_T for the transmission and G_R for the reflection, refining each
// other's estimates, as IBCLNModel.forward computes it on I in [0, 1]:
//   T_0 = I, R_0 = model.r_init (0.1 everywhere), the LSTM states of each generator zero
//   for k = 1 .. model.iterations (3):
//     T_k = G_T(cat[I, T_{k-1}, R_{k-1}])      (with G_T's state, carried)
//     R_k = G_R(cat[I, T_k,     R_{k-1}])      (G_R sees this iteration's T)
// The result is T_N; nothing is clamped inside (the reference clamps its lists at test time
// only; evaluation clamps the output it scores). Parameter names: G_T's as "net_G_T.<its
// name>", G_R's as "net_G_R.<name>" (the reference saves each network alone as
// <epoch>_net_G_T.pth / _net_G_R.pth: the prefix is the file's stem), and the frozen VGG-19 the
// perceptual loss uses as "vgg.<features index>". import_reference takes a state dict with both
// generators (as tools/ibcln_parity.py writes it), keeping our VGG-19.
#include "models/model.h"
#include "nn/vgg.h"
#include "systems/ibcln/generator.h"

namespace dmgn::models {

class Ibcln : public Model {
 public:
  explicit Ibcln(const Config& cfg);
  // "background" T_N, "reflection" R_N, "transmissions" / "reflections" T_1..T_N / R_1..R_N,
  // "background_half" / "background_quarter" G_T's side images of the last iteration (H/2, H/4),
  // "layers" cat[T_k, R_k] per iteration (the residual reconstruction's input).
  Outputs forward(const torch::Tensor& input) override;
  nn::Vgg19 shared_vgg() const override { return vgg_; }
  std::vector<std::pair<std::string, int64_t>> parameter_sections() const override;
  int64_t loss_only_parameters() const override;  // the VGG-19: only the perceptual loss runs it
  int64_t import_reference(const std::map<std::string, torch::Tensor>& state, const std::string& source) override;

 private:
  int64_t iterations_ = 3;
  double r_init_ = 0.1;
  nn::Vgg19 vgg_{nullptr};
  ibcln::Generator g_t_{nullptr}, g_r_{nullptr};
};

// Sides a multiple of 4 (two stride-2 levels), at least 4.
InputRequirement ibcln_input_requirement(const Config& cfg);

}  // namespace dmgn::models
