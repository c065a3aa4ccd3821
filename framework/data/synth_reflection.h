#pragma once
// Reflection synthesis and the paired training transform of the official DMGN code
// (funkdub/DMGN-Deep-Masking-Generative-Network-TIP2021, datasyn/transforms.py and
// datasyn/reflect_dataset.py), reimplemented with OpenCV. Inputs: CV_32FC3 RGB in [0, 1].
//
// reflection_zhang2018 — official ReflectionSythesis_2, after Zhang, Ng & Chen, "Single Image
//   Reflection Separation with Perceptual Losses" (CVPR 2018): linearise with power 2.2; blur R
//   with a Gaussian, sigma one of linspace(1, 5, 80), size 2*ceil(2 sigma)+1; per channel
//   subtract (mean of the over-exposed blend - 1) * att from R_blur, att in [1.08, 1.18), clip;
//   multiply by a crop of a 560x560 vignetting mask; I = R_mask + T * alpha2, alpha2 in (0.8, 1];
//   back with power 1/2.2; I clipped to [0, 1] with probability 1/2 (otherwise I may exceed 1,
//   at most 2^(1/2.2)). Returns (T unchanged, R_mask^(1/2.2), I). Images larger than 549 px in
//   either dimension are rejected (the mask crop needs w + 10 < 560).
// reflection_errnet — ERRNet's ReflectionSythesis_1 (Vandermode/ERRNet data/transforms.py,
//   after Fan et al. ICCV 2017): R blurred by an 11x11 Gaussian (zero padding), sigma ~ U[2, 5),
//   M = T + R_blur; if any value exceeds 1, R_blur -= (mean of those values - 1) * 1.3 (all
//   channels together), clip, M = clip(T + R_blur). Returns (T, R_blur, M).
// Both need SynthInput::layer (the reflected photo R).
// reject_pair — the official pair rejection of CEILDataset.__getitem__.
#include <opencv2/core.hpp>
#include <utility>

#include "core/rng.h"
#include "data/synthesis.h"

namespace dmgn::data {

// ---- reflection_zhang2018 ----------------------------------------------------------------
inline constexpr int kVignetteSize = 560;                     // official gkern(560, 3)
inline constexpr int kZhang2018MaxSize = kVignetteSize - 11;  // randint(0, 560 - w - 10)
inline constexpr int kZhang2018Sigmas = 80;                   // np.linspace(1, 5, 80)

// The random draws of one call, in the official order. Separated from the arithmetic so a
// given draw can be replayed (tests compare against the official code with fixed draws).
struct Zhang2018Params {
  int sigma_index = 0;  // index into linspace(1, 5, 80)
  double att = 1.08;    // 1.08 + U[0,1)/10
  int offset_x = 0;     // vignette crop column, randint(0, 560 - w - 10)
  int offset_y = 0;     // vignette crop row,    randint(0, 560 - h - 10)
  double alpha2 = 1.0;  // 1 - U[0,1)/5
  bool clip = false;    // official `random.random() > 0.5`

  double sigma() const;     // linspace(1, 5, 80)[sigma_index]
  int kernel_size() const;  // 2 * ceil(2 sigma) + 1
};

Zhang2018Params draw_zhang2018_params(int rows, int cols, Rng& rng);
SynthOutput synthesize_zhang2018(const cv::Mat& t, const cv::Mat& r, const Zhang2018Params& p);

// Official gkern(560, nsig = 3): 1-D weights = differences of the normal CDF at 561 points
// evenly spaced over [-3 - d/2, 3 + d/2], d = 7/560; 2-D = sqrt(outer product); max = 1.
// 560x560 CV_32FC1, computed once.
const cv::Mat& vignette_mask();

class ReflectionZhang2018 final : public Synthesis {
 public:
  SynthOutput synthesize(const SynthInput& in, Rng& rng) const override;
  bool needs_layer() const override { return true; }
  std::string task() const override { return "reflection"; }
  int max_size() const override { return kZhang2018MaxSize; }
  std::string name() const override { return "reflection_zhang2018"; }
};

// ---- reflection_errnet -------------------------------------------------------------------
struct ErrnetParams {
  double sigma = 2.0;  // U[2, 5)
  double gamma = 1.3;  // ERRNet default low_gamma = high_gamma = 1.3
};

ErrnetParams draw_errnet_params(Rng& rng);
SynthOutput synthesize_errnet(const cv::Mat& t, const cv::Mat& r, const ErrnetParams& p);

class ReflectionErrnet final : public Synthesis {
 public:
  SynthOutput synthesize(const SynthInput& in, Rng& rng) const override;
  bool needs_layer() const override { return true; }
  std::string task() const override { return "reflection"; }
  std::string name() const override { return "reflection_errnet"; }
};

// ---- pair rejection ----------------------------------------------------------------------
// Official: a (T, R) pair is redrawn while mean(T)/2 > mean(R), at most 3 times (the third
// redraw is kept whatever its means). Means over all pixels and channels.
inline constexpr int kMaxPairRedraws = 3;
double image_mean(const cv::Mat& img);
inline bool reject_pair(double mean_t, double mean_r) { return mean_t / 2.0 > mean_r; }

// Registers "reflection_zhang2018" and "reflection_errnet" in synths().
void register_reflection_synths();

}  // namespace dmgn::data
