#include "systems/physics_gan/physics_gan.h"

#include <fmt/format.h>

#include "core/error.h"
#include "nn/layers.h"
#include "nn/layers.h"

namespace dmgn::models {
namespace {

nn::Conv conv(int64_t in, int64_t out, int64_t k, int64_t stride = 1, int64_t pad = 0) {
  return nn::Conv(nn::ConvOptions(in, out, k).stride(stride).pad(pad).mode(nn::Pad::zero));
}

torch::nn::InstanceNorm2d norm(int64_t c) {
  return torch::nn::InstanceNorm2d(torch::nn::InstanceNorm2dOptions(c).affine(false).track_running_stats(false));
}

torch::nn::ReflectionPad2d pad(int64_t p) { return torch::nn::ReflectionPad2d(torch::nn::ReflectionPad2dOptions(p)); }

// CycleGAN's ResnetBlock: x + conv_block(x), no activation after the sum.
class ResnetBlockImpl : public torch::nn::Module {
 public:
  explicit ResnetBlockImpl(int64_t c) {
    block_ = register_module("conv_block", torch::nn::Sequential(pad(1), conv(c, c, 3), norm(c), torch::nn::ReLU(),
                                                                  pad(1), conv(c, c, 3), norm(c)));
  }
  torch::Tensor forward(const torch::Tensor& x) { return x + block_->forward(x); }

 private:
  torch::nn::Sequential block_{nullptr};
};
TORCH_MODULE(ResnetBlock);

}  // namespace

PhysicsGan::PhysicsGan(const Config& cfg) {
  const Config m = cfg.sub("model");
  const int64_t ngf = m.get_int("ngf"), blocks = m.get_int("blocks");
  if (ngf < 1) throw ConfigError("config key 'model.ngf' must be >= 1");
  if (blocks < 0) throw ConfigError("config key 'model.blocks' must be >= 0");
  torch::nn::Sequential s;
  s->push_back(pad(3));
  s->push_back(conv(3, ngf, 7));
  s->push_back(norm(ngf));
  s->push_back(torch::nn::ReLU());
  for (int64_t i = 0, c = ngf; i < 2; ++i, c *= 2) {
    s->push_back(conv(c, 2 * c, 3, 2, 1));
    s->push_back(norm(2 * c));
    s->push_back(torch::nn::ReLU());
  }
  for (int64_t i = 0; i < blocks; ++i) s->push_back(ResnetBlock(4 * ngf));
  for (int64_t i = 0, c = 4 * ngf; i < 2; ++i, c /= 2) {
    s->push_back(nn::Deconv(c, c / 2, 3, 2, 1, 1));
    s->push_back(norm(c / 2));
    s->push_back(torch::nn::ReLU());
  }
  s->push_back(pad(3));
  s->push_back(conv(ngf, 3, 7));
  s->push_back(torch::nn::Tanh());
  model_ = register_module("model", s);

  const auto init = m.get_string("init");
  if (init == "normal") {
    // The reference's weights_init_normal: every Conv* weight ~ N(0, 0.02); biases keep
    // PyTorch's default initialisation.
    torch::NoGradGuard g;
    for (auto& p : named_parameters(true))
      if (p.value().dim() == 4) p.value().normal_(0.0, 0.02);
  } else if (init != "pytorch") {
    throw ConfigError(fmt::format("config key 'model.init': '{}' is not one of normal, pytorch", init));
  }

  spec_.input_range = InputRange::minus_one_one;
  spec_.size_multiple = 4;
  spec_.task = cfg.get_string("task.name");
  spec_.primary = "background";
  using K = OutputDecl::Kind;
  spec_.outputs = {
      {"background", K::image, false, "G(y), the restored image", "fake_B"},
      {"physics", K::image, false, "y~ = H(G(y)), G(y) through the physics model (training; Eq. 8)", ""},
      {"physics_restored", K::image, false, "G(y~), the generator on its own re-degraded output (training; Eq. 10)",
       ""},
  };
}

torch::Tensor PhysicsGan::generate(const torch::Tensor& y) { return model_->forward(y); }

Outputs PhysicsGan::forward(const torch::Tensor& input) {
  Outputs out;
  out.set("background", generate(input));
  return out;
}

InputRequirement physics_gan_input_requirement(const Config& cfg) {
  // Two 3x3 stride-2 convs (padding 1: ceil(H/2) each) and two x2 transposed convs give
  // 4 * ceil(H/4): the output has the input's size only for multiples of 4. The first
  // ReflectionPad(3) needs 4 px; each residual block's ReflectionPad(1) at 1/4 needs 2 px there,
  // so 5 px, rounded up to the multiple: 8.
  InputRequirement r;
  r.multiple = 4;
  r.multiple_why = "physics_gan: two stride-2 levels and two x2 transposed convs (output 4 * ceil(H/4))";
  if (cfg.get_int("model.blocks") > 0) {
    r.min_side = 8;
    r.why = "physics_gan: the residual blocks' reflection padding of 1 needs 2 px at 1/4 (5 px; 8 as a multiple of 4)";
  } else {
    r.min_side = 4;
    r.why = "physics_gan: the first 7x7 conv's reflection padding of 3";
  }
  return r;
}

}  // namespace dmgn::models
