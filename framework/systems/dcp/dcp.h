#pragma once
// The dark channel prior (He, Sun and Tang, "Single Image Haze Removal Using Dark Channel
// Prior", CVPR 2009 / TPAMI 2011) with the guided filter (He, Sun and Tang, "Guided Image
// Filtering", ECCV 2010 / TPAMI 2013) in place of soft matting, as the TPAMI papers prescribe
// for speed. A training-free system (models::SystemInfo::training_free): no parameters; on a
// hazy image I in [0, 1] (N x 3 x H x W, each image on its own):
//   dark(x)(p)  = min over the patch x patch window around p of min_c x_c          (Eq. 5)
//   A           = among the top_fraction (0.1 %) brightest pixels of dark(I), the one of
//                 highest intensity in I (airlight "brightest", Sec. 4.4), or their mean ("mean")
//   t~          = 1 - omega dark(I / A)                                            (Eq. 12)
//   t           = the guided filter of t~ with the grey image as guide (radius r, eps), or t~
//   J           = (I - A) / max(t, t0) + A, clipped to [0, 1]                      (Eq. 22)
// The patch's window is truncated at the border (min over the pixels inside), as the guided
// filter's box (He's boxfilter.m). Every step is a tensor op; nothing is learned.
#include <torch/torch.h>

#include "models/model.h"

namespace dmgn::models {

namespace dcp {

// min over the patch x patch window (odd side) of min over channels; N x 1 x H x W.
torch::Tensor dark_channel(const torch::Tensor& x, int64_t patch);
// The mean over the (2r + 1)^2 window around each pixel, truncated at the borders (He's
// boxfilter.m divided by the pixel count N), per channel; summed in float64 (cumulative sums).
torch::Tensor box_mean(const torch::Tensor& x, int64_t r);
// He's guided filter of p (N x 1 x H x W) with the single-channel guide I (N x 1 x H x W).
torch::Tensor guided_filter(const torch::Tensor& guide, const torch::Tensor& p, int64_t r, double eps);
// A per image (N x 3): see the top.
torch::Tensor airlight(const torch::Tensor& image, const torch::Tensor& dark, double top_fraction, bool brightest);

}  // namespace dcp

class DarkChannelPrior : public Model {
 public:
  explicit DarkChannelPrior(const Config& cfg);
  // "background": J; "transmission": t (refined); "airlight": A as N x 3 x 1 x 1.
  Outputs forward(const torch::Tensor& input) override;

 private:
  int64_t patch_ = 15, radius_ = 60;
  double omega_ = 0.95, t0_ = 0.1, top_fraction_ = 0.001, eps_ = 1e-4;
  bool brightest_ = true, refine_ = true;
};

}  // namespace dmgn::models
