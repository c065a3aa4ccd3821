#pragma once
// Physics-based GAN (Pan et al., TPAMI 2020): the generator G, the CycleGAN ResNet generator
// (Zhu et al. 2017, `ResnetGenerator`) as the reference code builds it (Chanson94/Physicsgan,
// models/networks.py, resnet_9blocks, norm instance, no dropout). Inputs in [-1, 1]; H and W
// multiples of 4 (two stride-2 levels; the output then has the input's size).
//   ReflectionPad(3), Conv 7x7 (3 -> ngf), IN, ReLU
//   2 x [Conv 3x3 stride 2 pad 1 (c -> 2c), IN, ReLU]
//   blocks x ResnetBlock(4 ngf): x + [ReflPad(1), Conv 3x3, IN, ReLU, ReflPad(1), Conv 3x3, IN]
//   2 x [ConvTranspose 3x3 stride 2 pad 1 output_padding 1 (c -> c/2), IN, ReLU]
//   ReflectionPad(3), Conv 7x7 (ngf -> 3), Tanh
// InstanceNorm without affine parameters or running statistics; every conv has a bias (the
// reference's use_bias for InstanceNorm). 9 blocks at ngf 64: 11,378,179 parameters.
// Parameter names are the reference's ("model.<i>...", "model.<i>.conv_block.<j>..."), so its
// netG_A state dicts load by name (import_by_name).
// The physics operator H (losses/physics.h) and the two discriminators belong to training:
// the "physics_gan" recipe adds H(G(y)) and G(H(G(y))) to the outputs (declared here so that
// loss terms can name them); forward() alone returns G(y), as the test stage does.
#include "models/model.h"

namespace dmgn::models {

class PhysicsGan : public Model {
 public:
  explicit PhysicsGan(const Config& cfg);
  // "background": G(y).
  Outputs forward(const torch::Tensor& input) override;
  // G on a batch in model space (the recipe's G(y) and G(y~)).
  torch::Tensor generate(const torch::Tensor& y);

 private:
  torch::nn::Sequential model_{nullptr};
};

// The smallest input: multiples of 4 (two stride-2 levels), 8 px the least with residual
// blocks (their reflection padding of 1 needs 2 px at 1/4), 4 px without (the first
// ReflectionPad(3)). Training needs the critics' side too (losses::training_requirement).
InputRequirement physics_gan_input_requirement(const Config& cfg);

}  // namespace dmgn::models
