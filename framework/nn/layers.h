#pragma once
// Basic layers with the official code's conventions: 3x3 convs pad by reflection (pad, then
// convolve with padding 0), PyTorch's default initialisation, and multiply-accumulate
// counting (metrics/macs.h) so `dmgn info` counts every conv and linear layer that runs.
#include <torch/torch.h>

namespace dmgn::nn {

enum class Pad { reflect, zero };

struct ConvOptions {
  ConvOptions(int64_t in, int64_t out, int64_t kernel) : in(in), out(out), kernel(kernel) {}
  int64_t in, out, kernel;
  int64_t stride_ = 1, dilation_ = 1, groups_ = 1, pad_ = -1;  // pad -1: dilation*(k-1)/2
  bool bias_ = true;
  Pad mode_ = Pad::reflect;
  ConvOptions& stride(int64_t v) { stride_ = v; return *this; }
  ConvOptions& dilation(int64_t v) { dilation_ = v; return *this; }
  ConvOptions& groups(int64_t v) { groups_ = v; return *this; }
  ConvOptions& pad(int64_t v) { pad_ = v; return *this; }
  ConvOptions& bias(bool v) { bias_ = v; return *this; }
  ConvOptions& mode(Pad v) { mode_ = v; return *this; }
};

class ConvImpl : public torch::nn::Module {
 public:
  explicit ConvImpl(const ConvOptions& options);
  torch::Tensor forward(const torch::Tensor& x);
  void reset_parameters();
  const ConvOptions& options() const { return opt_; }
  int64_t padding() const { return pad_; }  // per side, resolved
  torch::Tensor weight, bias;

 private:
  ConvOptions opt_;
  int64_t pad_;
};
TORCH_MODULE(Conv);

class LinearImpl : public torch::nn::Module {
 public:
  LinearImpl(int64_t in, int64_t out, bool bias = true);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight, bias;

 private:
  int64_t in_, out_;
};
TORCH_MODULE(Linear);

// Parameters in a module tree, and how many of them require gradients.
struct ParamCount {
  int64_t total = 0;
  int64_t trainable = 0;
};
ParamCount count_parameters(const torch::nn::Module& module);

// Reflection padding by `pad` on all four sides (torch::reflection_pad2d's values; `pad` must
// be smaller than the height and the width). On CUDA it is built from copies into an output in
// the input's memory format: the interior, then each border mirrored from rows and columns
// already in place. PyTorch's CUDA reflection_pad2d kernel indexes NCHW element by element:
// measured on an H200 it moved data at about a quarter of copy bandwidth, 23% of the official
// model's inference time at 512x512, and it turns channels-last inputs into NCHW. CPUs keep
// the native kernel.
torch::Tensor reflect_pad(const torch::Tensor& x, int64_t pad);
// The copy-based construction itself, on any device (what reflect_pad runs on CUDA; tests).
torch::Tensor reflect_pad_by_copies(const torch::Tensor& x, int64_t pad);

// Bilinear resize helpers (the official code's two conventions).
torch::Tensor resize_bilinear(const torch::Tensor& x, int64_t h, int64_t w, bool align_corners);

// ConvTranspose2d that counts its multiply-accumulates (metrics/macs.h):
// in.numel() * out_channels * k * k (every input element meets every output channel's kernel).
class DeconvImpl : public torch::nn::Module {
 public:
  // output_padding: extra rows/columns on one side of the output (CycleGAN's x2 upsampling).
  DeconvImpl(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding, int64_t output_padding = 0);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight, bias;

 private:
  int64_t out_, kernel_, stride_, padding_, output_padding_;
};
TORCH_MODULE(Deconv);

// Normal(0, std) on every conv / linear / deconv weight of `m` and zero biases (the paper's
// "normal distribution (mean 0, variance 0.02)", pix2pix's init_weights with gain 0.02);
// PReLU slopes and MLSM kernels are left as they are.
void init_normal(torch::nn::Module& m, double std);

}  // namespace dmgn::nn
