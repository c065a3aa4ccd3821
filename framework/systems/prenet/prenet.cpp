#include "systems/prenet/prenet.h"

#include <fmt/format.h>

#include "core/error.h"
#include "core/options.h"
#include "nn/layers.h"

namespace dmgn::models {

std::string PReNet::variant_name(bool lstm, bool shared_block) {
  return std::string(lstm ? "PReNet" : "PRN") + (shared_block ? "_r" : "");
}

torch::nn::Sequential PReNet::conv_relu(const std::string& name, int64_t in, int64_t out, bool relu) {
  torch::nn::Sequential s;
  s->push_back(nn::Conv(nn::ConvOptions(in, out, 3).mode(nn::Pad::zero)));
  if (relu) s->push_back(torch::nn::ReLU());
  return register_module(name, s);
}

PReNet::PReNet(const Config& cfg) {
  read_options(cfg.sub("model"), {{"stages", &stages_},
                                  {"blocks", &blocks_},
                                  {"channels", &channels_},
                                  {"lstm", &lstm_},
                                  {"shared_block", &shared_}});
  if (stages_ < 1) throw ConfigError(fmt::format("config key 'model.stages' = {} must be >= 1", stages_));
  if (blocks_ < 0) throw ConfigError(fmt::format("config key 'model.blocks' = {} must be >= 0", blocks_));
  if (channels_ < 1) throw ConfigError(fmt::format("config key 'model.channels' = {} must be >= 1", channels_));
  const int64_t c = channels_;
  // In the reference's order (its state_dict's): conv0, res_conv1..5, the gates, conv.
  conv0_ = conv_relu("conv0", 6, c, true);
  for (int64_t k = 0; k < (shared_ ? std::min<int64_t>(blocks_, 1) : blocks_); ++k) {
    torch::nn::Sequential s;
    s->push_back(nn::Conv(nn::ConvOptions(c, c, 3).mode(nn::Pad::zero)));
    s->push_back(torch::nn::ReLU());
    s->push_back(nn::Conv(nn::ConvOptions(c, c, 3).mode(nn::Pad::zero)));
    s->push_back(torch::nn::ReLU());
    res_.push_back(register_module(fmt::format("res_conv{}", k + 1), s));
  }
  if (lstm_) {  // the activations are applied in forward (the reference's Sequential holds them)
    conv_i_ = conv_relu("conv_i", 2 * c, c, false);
    conv_i_->push_back(torch::nn::Sigmoid());
    conv_f_ = conv_relu("conv_f", 2 * c, c, false);
    conv_f_->push_back(torch::nn::Sigmoid());
    conv_g_ = conv_relu("conv_g", 2 * c, c, false);
    conv_g_->push_back(torch::nn::Tanh());
    conv_o_ = conv_relu("conv_o", 2 * c, c, false);
    conv_o_->push_back(torch::nn::Sigmoid());
  }
  conv_ = conv_relu("conv", c, 3, false);

  spec_.input_range = InputRange::zero_one;
  spec_.task = cfg.get_string("task.name");
  spec_.primary = "background";
  spec_.iterations = stages_;
  // Convolutions only (3x3, stride 1): each stage sees 1 + blocks * 2 + 1 (+ 1 gate) px further.
  spec_.receptive_radius = stages_ * (2 + 2 * blocks_ + (lstm_ ? 1 : 0));
  spec_.outputs = {{"background", OutputDecl::Kind::image, false, "x_T, the last stage's derained image", "x"},
                   {"stages", OutputDecl::Kind::image, true, "x_1 .. x_T, every stage's derained image", "x_list"}};
}

Outputs PReNet::forward(const torch::Tensor& input) {
  const int64_t n = input.size(0), h = input.size(2), w = input.size(3);
  torch::Tensor hidden, cell;
  if (lstm_) {
    hidden = torch::zeros({n, channels_, h, w}, input.options());
    cell = torch::zeros({n, channels_, h, w}, input.options());
  }
  torch::Tensor x = input;
  std::vector<torch::Tensor> stages;
  for (int64_t t = 0; t < stages_; ++t) {
    x = conv0_->forward(torch::cat({input, x}, 1));
    if (lstm_) {
      const auto z = torch::cat({x, hidden}, 1);
      const auto i = conv_i_->forward(z), f = conv_f_->forward(z), g = conv_g_->forward(z), o = conv_o_->forward(z);
      cell = f * cell + i * g;
      hidden = o * torch::tanh(cell);
      x = hidden;
    }
    for (int64_t k = 0; k < blocks_; ++k) x = torch::relu(res_[shared_ ? 0 : k]->forward(x) + x);
    x = conv_->forward(x) + input;
    stages.push_back(x);
  }
  Outputs out;
  out.set("background", x);
  out.set_list("stages", stages);
  return out;
}

}  // namespace dmgn::models
