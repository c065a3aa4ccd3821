#include "systems/ibcln/generator.h"

namespace dmgn::models::ibcln {

torch::nn::Sequential GeneratorImpl::block(const std::string& name, int64_t in, int64_t out, int64_t k,
                                           int64_t stride, int64_t dilation, const char* activation) {
  torch::nn::Sequential s;
  s->push_back(nn::Conv(nn::ConvOptions(in, out, k).stride(stride).dilation(dilation).mode(nn::Pad::zero)));
  const std::string a = activation;
  if (a == "relu") s->push_back(torch::nn::ReLU());
  else if (a == "sigmoid") s->push_back(torch::nn::Sigmoid());
  else if (a == "tanh") s->push_back(torch::nn::Tanh());
  return register_module(name, s);
}

torch::nn::Sequential GeneratorImpl::up(const std::string& name, int64_t in, int64_t out) {
  torch::nn::Sequential s;
  s->push_back(nn::Deconv(in, out, 4, 2, 1));
  // ReflectionPad2d((1, 0, 1, 0)): one column on the left, one row on the top.
  s->push_back(torch::nn::ReflectionPad2d(torch::nn::ReflectionPad2dOptions({1, 0, 1, 0})));
  s->push_back(torch::nn::AvgPool2d(torch::nn::AvgPool2dOptions(2).stride(1)));
  s->push_back(torch::nn::ReLU());
  return register_module(name, s);
}

GeneratorImpl::GeneratorImpl() {
  // The reference's registration order (its state_dict's).
  conv1_ = block("conv1", 9, 64, 5, 1, 1, "relu");
  conv2_ = block("conv2", 64, 128, 3, 2, 1, "relu");
  conv3_ = block("conv3", 128, 128, 3, 1, 1, "relu");
  conv4_ = block("conv4", 128, 256, 3, 2, 1, "relu");
  conv5_ = block("conv5", 256, 256, 3, 1, 1, "relu");
  conv6_ = block("conv6", 256, 256, 3, 1, 1, "relu");
  diconv1_ = block("diconv1", 256, 256, 3, 1, 2, "relu");
  diconv2_ = block("diconv2", 256, 256, 3, 1, 4, "relu");
  diconv3_ = block("diconv3", 256, 256, 3, 1, 8, "relu");
  diconv4_ = block("diconv4", 256, 256, 3, 1, 16, "relu");
  conv7_ = block("conv7", 256, 256, 3, 1, 1, "relu");
  conv_i_ = block("conv_i", 512, kStateChannels, 3, 1, 1, "sigmoid");
  conv_f_ = block("conv_f", 512, kStateChannels, 3, 1, 1, "sigmoid");
  conv_g_ = block("conv_g", 512, kStateChannels, 3, 1, 1, "tanh");
  conv_o_ = block("conv_o", 512, kStateChannels, 3, 1, 1, "sigmoid");
  conv8_ = block("conv8", 256, 256, 3, 1, 1, "relu");
  deconv1_ = up("deconv1", 256, 128);
  conv9_ = block("conv9", 128, 128, 3, 1, 1, "relu");
  conv9_->push_back(torch::nn::Dropout(0.3));
  deconv2_ = up("deconv2", 128, 64);
  conv10_ = block("conv10", 64, 32, 3, 1, 1, "relu");
  outframe1_ = block("outframe1", 256, 3, 3, 1, 1, "relu");
  outframe2_ = block("outframe2", 128, 3, 3, 1, 1, "relu");
  output_ = block("output", 32, 3, 3, 1, 1, "relu");
}

std::vector<torch::nn::Module*> GeneratorImpl::layers() const {
  std::vector<torch::nn::Module*> out;
  for (const auto& m : modules(/*include_self=*/false))
    if (dynamic_cast<nn::ConvImpl*>(m.get()) || dynamic_cast<nn::DeconvImpl*>(m.get())) out.push_back(m.get());
  return out;
}

GeneratorOutput GeneratorImpl::forward(const torch::Tensor& input, const torch::Tensor& h, const torch::Tensor& c) {
  auto x = conv1_->forward(input);
  const auto res1 = x;
  x = conv3_->forward(conv2_->forward(x));
  const auto res2 = x;
  x = conv6_->forward(conv5_->forward(conv4_->forward(x)));
  x = diconv4_->forward(diconv3_->forward(diconv2_->forward(diconv1_->forward(x))));
  x = conv7_->forward(x);
  const auto z = torch::cat({x, h}, 1);
  const auto i = conv_i_->forward(z), f = conv_f_->forward(z), g = conv_g_->forward(z), o = conv_o_->forward(z);
  GeneratorOutput out;
  out.c = f * c + i * g;
  out.h = o * torch::tanh(out.c);
  x = conv8_->forward(out.h);
  out.quarter = outframe1_->forward(x);
  x = deconv1_->forward(x) + res2;
  x = conv9_->forward(x);
  out.half = outframe2_->forward(x);
  x = deconv2_->forward(x) + res1;
  out.image = output_->forward(conv10_->forward(x));
  return out;
}

}  // namespace dmgn::models::ibcln
