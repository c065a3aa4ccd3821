#pragma once
// MBN and R-MBN (Deng et al., "Multi-branch recurrent network", the reference's EnDNet in
// pietorch/M_DuRN.py, github 6272code/6272-code; shared/SEED-SYSTEMS.md section 3), model "mbn".
// One shared stem (DuRB-M blocks M1..M5, systems/mbn/mbn_blocks.h) between one input and one output
// branch per task (systems/mbn/mbn_branches.h):
//   rain  I1 (ConvLSTM head), M1..M5, g1; rain_iterations passes, each from the last output
//         with h, c carried over (the reference's 4).
//   blur  I2 (coarse-to-fine head), M1..M5, M6, g2; three passes at 1/4, 1/2 and 1: the image
//         at that scale (bicubic halvings of the input), from the second pass on concatenated
//         with the previous pass's output upsampled x2 (bicubic); outputs at all three scales.
//   jpeg  the same with I3, M1..M5, M6, M7, g3.
//   haze  I4, M1..M8, g4.
// Every path ends in tanh(conv) + its own input at that scale. model.design = "minimal" is
// the supplementary's minimal design used by Table 1: one plain input branch (I4's design) for
// every task, stem M1..M5 only, and one g4-like output branch per task, single scale.
// Table 1's block ablations: model.attention (gap_tv | gap | tv | none) and model.fusion.
// model.mode = "forward" is MBN: the path of the routed task (models/task_routed.h: each sample's
// or batch's task; model.path otherwise). "recurrent" is R-MBN: the forward paths in
// model.order (the paper's J -> H -> B -> R), each stage's output clamped to [0, 1] before the
// next stage (whose pyramid is recomputed from it), as the reference's test_RMBN.py does.
// Images in [0, 1]; sides a multiple of 16, at least 64 where a blur or JPEG path runs (below).
// Outputs: "background" (the final restored image), "scales" (the path's outputs, coarse to
// fine: three for blur / JPEG, one otherwise; the multi-scale loss reads them), and in recurrent
// mode "stages" (every stage's output before clamping) and "stage_<task>" per stage.
#include <map>
#include <string>
#include <vector>

#include "models/model.h"
#include "models/task_routed.h"
#include "systems/mbn/mbn_blocks.h"
#include "systems/mbn/mbn_branches.h"

namespace dmgn::models {

class Mbn : public Model, public TaskRouted {
 public:
  explicit Mbn(const Config& cfg);
  Outputs forward(const torch::Tensor& input) override;
  int64_t vestigial_parameters() const override;
  // The reference's state dicts by parameter name (models/import.h). Its DuRB-M registers the
  // fusion attention twice, as down_se / down_seconv and as down_atten = Sequential(down_se,
  // down_seconv), so a released MBN.pt holds each of those tensors under both names: every
  // down_atten.0.* / down_atten.1.* is checked equal to its down_se.* / down_seconv.* twin
  // (DataError naming both when not) and the duplicate dropped.
  int64_t import_reference(const std::map<std::string, torch::Tensor>& state, const std::string& source) override;
  // "input branches", "stem" (M1..M5), "output branches" (g_i and M6..M8): the paper's Table 7.
  std::vector<std::pair<std::string, int64_t>> parameter_sections() const override;

  std::vector<std::string> routed_tasks() const override { return {"rain", "blur", "jpeg", "haze"}; }
  void route(const std::string& task) override;
  std::string routed() const override { return path_; }
  bool one_path() const override { return recurrent_; }

  // One task's forward path on an input in [0, 1]: its outputs coarse to fine.
  std::vector<torch::Tensor> run_path(const std::string& task, const torch::Tensor& input);
  bool recurrent() const { return recurrent_; }
  const std::vector<std::string>& order() const { return order_; }
  // Parameters of the input branches, the stem (M1..M5) and the output branches (g_i and the
  // extra blocks M6..M8), as the paper's Table 7 splits them.
  struct Sections {
    int64_t input = 0, stem = 0, output = 0;
  };
  Sections sections() const;
  // The input branches' modules (R-MBN's fine-tuning freezes them).
  std::vector<torch::nn::Module*> input_branches();

 private:
  struct Trunk {
    torch::Tensor x, res;
  };
  Trunk run_blocks(Trunk t, int last);  // M1..M`last`
  std::vector<torch::Tensor> coarse_to_fine(const torch::Tensor& input, bool jpeg);

  bool minimal_ = false, recurrent_ = false;
  int64_t rain_iterations_ = 4;
  std::string path_;
  std::vector<std::string> order_;
  std::vector<nn::DurbM> blocks_;  // M1..M8 (M1..M5 in the minimal design)
  nn::LstmHead rain_head_{nullptr};
  nn::C2fHead blur_head_{nullptr}, jpeg_head_{nullptr};
  nn::PlainHead haze_head_{nullptr}, head_{nullptr};  // head_: the minimal design's one branch
  nn::DecoderUp1 dec1_{nullptr};
  nn::C2fTail dec2_{nullptr}, dec3_{nullptr};
  nn::DecoderUp2 dec4_{nullptr};
  std::map<std::string, nn::DecoderUp2> minimal_dec_;  // task -> g_i (minimal design)
};

// The smallest input: multiples of 16; 64 px where a blur or JPEG path can run (every
// routed MBN, an R-MBN whose order has one: their coarse pass at 1/4), 16 otherwise (the
// minimal design; R-MBN of rain / haze stages).
InputRequirement mbn_input_requirement(const Config& cfg);

}  // namespace dmgn::models
