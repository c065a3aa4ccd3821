// Location-aware SIRR's registrations (Dong et al., ICCV 2021): the model, its blocks (MLSM,
// SE-ResBlock, CBAM block, ConvLSTM cell: sirr_blocks.h), its recipe, its release's metric
// convention, Tables 1-3 and its display name.
#include "systems/location_sirr/register.h"

#include "metrics/spec.h"
#include "models/system_info.h"
#include "nn/attention.h"
#include "systems/location_sirr/location_sirr.h"
#include "systems/location_sirr/sirr_blocks.h"

namespace dmgn::train {
void register_location_sirr_recipe();  // systems/location_sirr/recipe_location_sirr.cpp
}  // namespace dmgn::train

namespace dmgn::systems {
namespace {

// Its blocks, sized from the [model] table of a location_sirr config and the shape's channels.
void register_location_sirr_blocks() {
  using namespace dmgn::nn;
  blocks().add("mlsm", "multi-scale learnable Laplacian (Eq. 4): one depthwise 3x3 kernel, bilinear scales",
               [](const Config& model, const BlockShape& s) -> std::shared_ptr<torch::nn::Module> {
                 MlsmOptions o;
                 o.channels = s.channels;
                 o.scales = model.get_ints("laplacian.scales");
                 o.op = model.get_string("laplacian.operator") == "edge" ? MlsmOperator::edge : MlsmOperator::laplacian;
                 o.init = model.get_string("laplacian.init") == "random" ? KernelInit::random : KernelInit::laplacian;
                 o.learnable = model.get_bool("laplacian.learnable");
                 return Mlsm(o).ptr();
               });
  blocks().add("se_resblock", "SE-ResBlock: x + s * SE(conv(act(conv(x)))), no conv biases",
               [](const Config& model, const BlockShape& s) -> std::shared_ptr<torch::nn::Module> {
                 return SeResBlock(s.channels, model.get_int("se_reduction"), model.get_float("res_scale"), "relu")
                     .ptr();
               });
  blocks().add("cbam_resblock", "CBAM residual block: x + SA(CA(conv(relu(conv(x))))), reduction 4",
               [](const Config&, const BlockShape& s) -> std::shared_ptr<torch::nn::Module> {
                 return CbamResBlock(s.channels, 4).ptr();
               });
  blocks().add("conv_lstm", "ConvLSTM cell, 3x3 gates on [x, h]; hidden = 2 x channels",
               [](const Config&, const BlockShape& s) -> std::shared_ptr<torch::nn::Module> {
                 return ConvLstmCell(s.channels, 2 * s.channels).ptr();
               });
}

}  // namespace

void register_location_sirr() {
  using namespace dmgn::models;
  models::models().add("location_sirr",
                       "Location-aware SIRR (Dong et al. 2021): MLSM + RCMap + ConvLSTM, contextual autoencoder, N "
                       "iterations (its Table 2 ablations by config)",
                       [](const Config& cfg) -> ModelPtr { return std::make_shared<LocationSirr>(cfg); });
  register_input_requirement("location_sirr", location_sirr_input_requirement);
  register_output_names("location_sirr", {"background", "noise", "background_iters", "noise_iters", "frame_half",
                                          "frame_quarter", "confidence", "confidence_iters"});
  register_location_sirr_blocks();
  train::register_location_sirr_recipe();
  // Its release's utils.compare_psnr_ssim: skimage defaults on float [0, 1] images.
  metrics::Preset p;
  p.spec.data_range = 1.0;
  p.spec.window = metrics::Spec::Window::uniform;
  p.spec.window_size = 7;
  p.spec.sample_covariance = true;
  p.paper = "Location-aware SIRR";
  metrics::register_preset("location_sirr", "Location-aware SIRR's release: skimage defaults on float [0,1] RGB", p);
  register_location_sirr_tables();
  SystemInfo info;
  info.names = {"Location-aware SIRR"};
  info.small = [](const Config&) {
    return std::vector<std::string>{"location_sirr.vgg_weights=\"\"", "model.width=4", "model.hidden=8",
                                    "model.ae_widths=[4, 8, 8]", "model.cbam_reductions=[2, 4, 8]",
                                    "model.se_reduction=2"};
  };
  register_system_info("location_sirr", info);
}

}  // namespace dmgn::systems
