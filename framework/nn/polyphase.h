#pragma once
// A convolution over a bilinearly upsampled map, computed at the map's own resolution.
//
// For f at 1/s of the output size (s an integer >= 2) and bilinear upsampling up_s with
// align_corners = false (PyTorch's), every output pixel p = s*i + phi (phase phi in [0, s)) of
//     y = conv_k,dil(up_s(f), W)            (no padding: p + tap offsets stay inside)
// is a fixed linear combination of f's pixels i + a, a in [a_min, a_max], with weights that
// depend only on the phase and the tap: up_s(f)[s*i + phi + o] = (1 - l) f[i + a0] + l f[i + a0 + 1]
// with a0 = floor((phi + o + 0.5) / s - 0.5), l its fraction. So, in two stages at f's size,
//     T = conv_1x1(f, W_t) for every tap t           (k*k x out channels)
//     y = pixel_shuffle(conv_K(replicate_pad(T), M) per output channel, s)
// where M[(phi_y, phi_x), t = (ty, tx), a, b] = By[phi_y, ty, a] Bx[phi_x, tx, b] is a constant,
// the same for every output channel (K = 3 for a 3x3 kernel at any s): one dense conv over
// the output channels as a batch (a grouped conv with one group per output channel ran as one
// small GEMM per group on cuDNN). The
// replicate padding reproduces the upsampling's clamping at the border. The first stage costs
// 1/s^2 of the direct conv's MACs, the second k^2 K^2 = 81 MACs per output value whatever f's
// channel count (the direct conv: k^2 c, 4608 for relu4_1); up_s(f) is never materialised (for
// the hypercolumn head: 1408 channels at full resolution, resized, concatenated and padded on
// every pass), and the backward needs f and T, not up_s(f).
//
// What it does not reproduce is a reflection padding of up_s(f) itself (the head's conv pads
// its full-resolution input): output pixels within `pad` of the border are wrong and are
// recomputed exactly from a few upsampled lines (upsampled_lines) by the caller.
#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace dmgn::nn {

// The bilinear weights of phase x tap x low-resolution offset, [s, k, K] (float64 on the CPU),
// the low-resolution offset they start from (a_min) and how many they span (K), for taps at
// offsets t * dil - pad, t in [0, k).
struct PolyphaseBasis {
  torch::Tensor weights;  // [s, k, K]
  int64_t a_min = 0, span = 0;
};
PolyphaseBasis polyphase_basis(int64_t s, int64_t k, int64_t dil, int64_t pad);

// M of the top: [s * s, k * k, K, K] (float64 on the CPU), phases phi_y-major.
torch::Tensor polyphase_mix(const PolyphaseBasis& basis);

// conv(up_s(f), weight) with weight [out, c, k, k], taps at t * dil - pad, unpadded at full
// resolution, i.e. exact wherever p + offset stays inside the image; no bias. As a view
// [n, out, h, s, w, s] (add it to y.view({n, out, h, s, w, s}): no pixel_shuffle copy), or
// reshaped to [n, out, s*h, s*w]. `mix` = polyphase_mix(basis) on f's device, in the weight's
// dtype.
torch::Tensor conv_of_upsampled_phases(const torch::Tensor& f, const torch::Tensor& weight, int64_t s,
                                       const PolyphaseBasis& basis, const torch::Tensor& mix);
torch::Tensor conv_of_upsampled(const torch::Tensor& f, const torch::Tensor& weight, int64_t s,
                                const PolyphaseBasis& basis, const torch::Tensor& mix);

// Lines of up(f) = bilinear resize (align_corners = false) of f from `in` to `out` along one
// dimension: for each line q of `index`, the two source lines and the fraction between them.
// Built on the CPU once (to(device) before use: a forward that is captured into a CUDA graph
// must not copy from the host).
struct LineSampling {
  torch::Tensor lower, upper;  // int64 [|index|]
  torch::Tensor fraction;      // float [|index|]
  LineSampling to(const torch::Device& device) const;
};
LineSampling line_sampling(int64_t in, int64_t out, const std::vector<int64_t>& index);

// The rows (dim 2) or columns (dim 3) of up(f) that `lines` samples, up(f) being f resized to
// [height, width]; full along the other dimension, which `across` samples (every line of it):
// [n, c, |index|, width] or [n, c, height, |index|]. The same values as resizing all of f and
// selecting, up to rounding. Gathers and a lerp: PyTorch's resize kernel for NCHW runs one
// thread per output pixel over every channel, which is slow on such thin strips.
torch::Tensor upsampled_lines(const torch::Tensor& f, int64_t dim, const LineSampling& lines,
                              const LineSampling& across);

}  // namespace dmgn::nn
