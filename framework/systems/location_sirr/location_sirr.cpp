#include "systems/location_sirr/location_sirr.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <numeric>

#include "core/error.h"
#include "models/import.h"
#include "nn/attention.h"

namespace dmgn::models {

namespace {

using nn::Conv;
using nn::ConvOptions;
using nn::Pad;

// A reference nn.Sequential: a holder module with convs at given indices ("0", "2", ...).
std::shared_ptr<torch::nn::Module> holder(torch::nn::Module& parent, const std::string& name) {
  return parent.register_module(name, std::make_shared<torch::nn::Module>());
}

Conv zconv(int64_t in, int64_t out, int64_t k = 3, int64_t stride = 1, int64_t dilation = 1) {
  return Conv(ConvOptions(in, out, k).stride(stride).dilation(dilation).mode(Pad::zero));
}

// The deconv block: ConvTranspose(4, s2, p1) -> ReflectionPad2d((1, 0, 1, 0)) -> AvgPool2d(2, 1)
// -> ReLU (a stride-2 upsampling with the checkerboard smoothed away).
torch::Tensor up_block(nn::Deconv& d, const torch::Tensor& x) {
  auto y = torch::reflection_pad2d(d->forward(x), {1, 0, 1, 0});
  return torch::relu(torch::avg_pool2d(y, {2, 2}, {1, 1}));
}

// Stage 2's convolutions by reference name; their index is the enum below.
const char* const kStage2Convs[] = {"conv1",   "conv2",   "conv3",   "conv4",     "conv5", "conv6",
                                    "diconv1", "diconv2", "diconv3", "diconv4",   "conv7", "conv8",
                                    "outframe1", "conv9", "outframe2", "conv10", "output"};
enum S2 { conv1, conv2, conv3, conv4, conv5, conv6, diconv1, diconv2, diconv3, diconv4, conv7, conv8,
          outframe1, conv9, outframe2, conv10, output, kS2Count };

const char* kImageBlockNames[] = {"det_conv1", "det_conv2", "det_conv3", "det_conv4", "det_conv4_1", "det_conv4_2"};

}  // namespace

LocationSirr::LocationSirr(const Config& cfg) {
  const Config m = cfg.sub("model");
  iterations_ = m.get_int("iterations");
  rdm_ = m.get_bool("rdm");
  tsm_ = m.get_bool("tsm");
  use_lstm_ = m.get_bool("lstm");
  const auto conv = m.get_string("rcmap_convention");
  paper_convention_ = conv == "paper";
  rcmap_from_image_ = m.get_string("rcmap_source") == "image_features";
  if (iterations_ < 1) throw ConfigError("config key 'model.iterations' must be at least 1");
  if (!rdm_ && tsm_)
    throw ConfigError("config key 'model.tsm' is true but 'model.rdm' is false: the TSM refines the RDM's features");
  const int64_t width = m.get_int("width"), hidden = m.get_int("hidden"), r = m.get_int("se_reduction");
  const auto aw = m.get_ints("ae_widths");
  const auto cr = m.get_ints("cbam_reductions");
  if (aw.size() != 3 || cr.size() != 3)
    throw ConfigError("config keys 'model.ae_widths' and 'model.cbam_reductions' need three values (full, 1/2, 1/4)");
  const double res_scale = m.get_float("res_scale");

  // Stage 1, image branch: conv(6 -> 32) + ReLU, then SE-ResBlocks each followed by ReLU.
  image_in_ = holder(*this, "det_conv0")->register_module("0", zconv(6, width));
  const int64_t n_image = m.get_int("image_se_blocks");
  for (int64_t k = 0; k < n_image; ++k) {
    const std::string name = k < 6 ? kImageBlockNames[k] : fmt::format("det_conv4_{}", k - 3);
    image_blocks_.push_back(register_module(name, nn::SeResBlock(width, r, res_scale, "relu")));
  }
  // Laplacian branch: MLSM (Eq. 4) -> conv + PReLU -> RDM blocks -> RCMap head (Eq. 5) -> TSM.
  if (rdm_) {
    if (!rcmap_from_image_) {
      mlsm_ = register_module(
          "lap_pyramid", nn::Mlsm(nn::block_as<nn::MlsmImpl>("mlsm", m, {6}, "multi-scale Laplacian submodule")));
      auto h = holder(*this, "det_conv5");
      lap_in_ = h->register_module("0", zconv(mlsm_->options().out_channels(), width));
      lap_prelu_ = h->register_module("1", torch::nn::PReLU(torch::nn::PReLUOptions().init(0.25)));
    }
    const int64_t n_rdm = m.get_int("rdm_se_blocks"), n_tsm = tsm_ ? m.get_int("tsm_se_blocks") : 0;
    for (int64_t k = 0; k < n_rdm; ++k)
      rdm_blocks_.push_back(register_module(fmt::format("det_conv{}", 6 + k), nn::SeResBlock(width, r, res_scale, "prelu")));
    shared_prelu_ = register_module("p_relu", torch::nn::PReLU(torch::nn::PReLUOptions().init(0.25)));
    auto h = holder(*this, "det_conv_mask0");
    rcmap0_ = h->register_module("0", zconv(width, width));
    rcmap2_ = h->register_module("2", zconv(width, 1));
    for (int64_t k = 0; k < n_tsm; ++k)
      tsm_blocks_.push_back(
          register_module(fmt::format("det_conv{}", 6 + n_rdm + k), nn::SeResBlock(width, r, res_scale, "prelu")));
  }
  const int64_t features = width + (rdm_ ? width : 0);
  if (use_lstm_) lstm_cell_ = register_module("lstm", nn::ConvLstmCell(features, hidden));
  auto rh = holder(*this, "det_conv_mask1");
  r0_ = rh->register_module("0", zconv(use_lstm_ ? hidden : features, width));
  r2_ = rh->register_module("2", zconv(width, 3));

  // Stage 2: the contextual autoencoder on [I, T_{i-1}, R_i, C_i] (10 channels; 9 without RDM).
  const int64_t in2 = 9 + (rdm_ ? 1 : 0);
  convs_.assign(kS2Count, Conv(nullptr));
  const auto add = [&](S2 which, Conv c) {
    convs_[which] = holder(*this, kStage2Convs[which])->register_module("0", c);
  };
  const int64_t a1 = aw[0], a2 = aw[1], a4 = aw[2], tail = a1 / 2;
  add(conv1, Conv(ConvOptions(in2, a1, 5).mode(Pad::zero)));
  cbam_.push_back(register_module("cbam_block0", nn::CbamResBlock(a1, cr[0])));
  add(conv2, zconv(a1, a2, 3, 2));
  add(conv3, zconv(a2, a2));
  cbam_.push_back(register_module("cbam_block1", nn::CbamResBlock(a2, cr[1])));
  cbam_.push_back(register_module("cbam_block2", nn::CbamResBlock(a2, cr[1])));
  add(conv4, zconv(a2, a4, 3, 2));
  add(conv5, zconv(a4, a4));
  add(conv6, zconv(a4, a4));
  for (int k = 3; k <= 5; ++k) cbam_.push_back(register_module(fmt::format("cbam_block{}", k), nn::CbamResBlock(a4, cr[2])));
  for (int k = 1; k <= 4; ++k) add(static_cast<S2>(diconv1 + k - 1), zconv(a4, a4, 3, 1, int64_t(1) << k));
  add(conv7, zconv(a4, a4));
  add(conv8, zconv(a4, a4));
  add(outframe1, zconv(a4, 3));
  deconv1_ = holder(*this, "deconv1")->register_module("0", nn::Deconv(a4, a2, 4, 2, 1));
  add(conv9, zconv(a2, a2));
  add(outframe2, zconv(a2, 3));
  deconv2_ = holder(*this, "deconv2")->register_module("0", nn::Deconv(a2, a1, 4, 2, 1));
  add(conv10, zconv(a1, tail));
  add(output, zconv(tail, 3));

  const auto init = m.get_string("init");
  if (init == "normal") nn::init_normal(*this, 0.02);

  spec_.input_range = InputRange::zero_one;
  spec_.size_multiple = location_sirr_input_requirement(cfg).multiple;  // 8, or an MLSM scale's multiple
  spec_.task = "reflection";
  spec_.primary = "background";
  spec_.iterations = iterations_;
  using K = OutputDecl::Kind;
  spec_.outputs = {
      {"background", K::image, false, "T_N, the transmission layer of the last iteration", ""},
      {"noise", K::image, false, "R_N, the reflection layer of the last iteration", ""},
      {"background_iters", K::image, true, "T_i per iteration (Eq. 11-12)", "T_hat"},
      {"noise_iters", K::image, true, "R_i per iteration (L_res)", "R_hat"},
      {"frame_half", K::image, false, "T_N at H/2, stage 2's second side output (Eq. 10)", "frame2.last"},
      {"frame_quarter", K::image, false, "T_N at H/4, stage 2's first side output (Eq. 10)", "frame1.last"},
  };
  if (rdm_) {
    spec_.outputs.push_back({"confidence", K::map, false, "C_N, the reflection confidence map (RCMap)", ""});
    spec_.outputs.push_back({"confidence_iters", K::map, true, "C_i per iteration (Eq. 8, 16)", "c_map"});
  }
}

torch::Tensor LocationSirr::laplacian_kernel() const { return mlsm_ ? mlsm_->kernel : torch::Tensor(); }

LocationSirr::Stage1 LocationSirr::stage1(const torch::Tensor& input, const torch::Tensor& t_prev,
                                          nn::LstmState& state) {
  const auto x_in = torch::cat({input, t_prev}, 1);
  auto x = torch::relu(image_in_->forward(x_in));
  for (auto& b : image_blocks_) x = torch::relu(b->forward(x));
  Stage1 out;
  std::vector<torch::Tensor> feats{x};
  if (rdm_) {
    torch::Tensor l;
    if (rcmap_from_image_) {
      l = x;  // Table 2's "C from I_ft": the RDM runs on the image features, no MLSM
    } else {
      l = lap_prelu_->forward(lap_in_->forward(mlsm_->forward(x_in)));  // Eq. 4
    }
    for (auto& b : rdm_blocks_) l = shared_prelu_->forward(b->forward(l));
    out.confidence = torch::sigmoid(rcmap2_->forward(torch::relu(rcmap0_->forward(l))));  // Eq. 5
    if (tsm_) {
      for (auto& b : tsm_blocks_) l = shared_prelu_->forward(b->forward(l));
      l = l * (paper_convention_ ? out.confidence : 1 - out.confidence);  // transmission suppression
    }
    feats.push_back(l);
  }
  auto z = feats.size() == 1 ? feats[0] : torch::cat(feats, 1);
  if (use_lstm_) {
    state = lstm_cell_->forward(z, state);
    z = state.h;
  }
  out.reflection = torch::relu(r2_->forward(torch::relu(r0_->forward(z))));
  return out;
}

std::vector<torch::Tensor> LocationSirr::stage2(const torch::Tensor& in) {
  const auto c = [&](S2 which, const torch::Tensor& x) { return torch::relu(convs_[which]->forward(x)); };
  auto x = cbam_[0]->forward(c(conv1, in));
  const auto res1 = x;
  x = c(conv3, c(conv2, x));
  x = cbam_[2]->forward(cbam_[1]->forward(x));
  const auto res2 = x;
  x = c(conv6, c(conv5, c(conv4, x)));
  for (size_t k = 3; k < 6; ++k) x = cbam_[k]->forward(x);
  x = c(diconv4, c(diconv3, c(diconv2, c(diconv1, x))));
  x = c(conv8, c(conv7, x));
  const auto frame_quarter = c(outframe1, x);
  x = c(conv9, up_block(deconv1_, x) + res2);
  const auto frame_half = c(outframe2, x);
  x = c(conv10, up_block(deconv2_, x) + res1);
  return {c(output, x), frame_half, frame_quarter};
}

LocationSirr::Step LocationSirr::iterate(const torch::Tensor& input, const torch::Tensor& t_prev,
                                         nn::LstmState& state) {
  const auto s1 = stage1(input, t_prev, state);
  std::vector<torch::Tensor> parts{input, t_prev, s1.reflection};
  if (rdm_) parts.push_back(paper_convention_ ? 1 - s1.confidence : s1.confidence);
  const auto frames = stage2(torch::cat(parts, 1));
  return {frames[0], s1.reflection, s1.confidence, frames[1], frames[2]};
}

Outputs LocationSirr::forward(const torch::Tensor& input) {
  TORCH_CHECK(input.size(2) % 8 == 0 && input.size(3) % 8 == 0, "location_sirr: input ", input.size(2), "x",
              input.size(3), " is not a multiple of 8");
  nn::LstmState state;
  torch::Tensor t_prev = input;
  std::vector<torch::Tensor> ts, rs, cs;
  Step last;
  for (int64_t i = 0; i < iterations_; ++i) {
    last = iterate(input, t_prev, state);
    t_prev = last.background;
    ts.push_back(last.background);
    rs.push_back(last.noise);
    if (rdm_) cs.push_back(last.confidence);
  }
  Outputs out;
  out.set("background", ts.back());
  out.set("noise", rs.back());
  if (rdm_) out.set("confidence", cs.back());
  out.set("frame_half", last.frame_half);
  out.set("frame_quarter", last.frame_quarter);
  out.set_list("background_iters", ts);
  out.set_list("noise_iters", rs);
  if (rdm_) out.set_list("confidence_iters", cs);
  return out;
}

InputRequirement location_sirr_input_requirement(const Config& cfg) {
  const Config m = cfg.sub("model");
  // forward() takes sides that are multiples of 8 (stage 2's two stride-2 levels come back by
  // two x2 deconvs onto its skips, and the reference's 1/8 Laplacian scale), and the MLSM
  // resizes by each of its scales exactly. Zero "same" padding everywhere, so once a side
  // divides, every layer fits (1/8 of the smallest is 1 px).
  InputRequirement r;
  r.multiple = 8;
  r.multiple_why = "location_sirr: stage 2's two stride-2 levels and the reference's 1/8 Laplacian scale";
  if (m.get_bool("rdm") && m.get_string("rcmap_source") == "laplacian")
    for (const auto s : m.get_ints("laplacian.scales"))
      if (s > 1 && std::lcm(r.multiple, s) != r.multiple) {
        r.multiple = std::lcm(r.multiple, s);
        r.multiple_why = fmt::format("model.laplacian.scales: the multi-scale Laplacian resizes by {} exactly", s);
      }
  r.min_side = r.multiple;
  r.why = r.multiple_why;
  // Stage 2's side outputs (Eq. 10): a loss on them needs the input 2x / 4x what it takes.
  r.downscale = {{"frame_half", 2}, {"frame_quarter", 4}};
  return r;
}

int64_t import_reference(LocationSirr& model, const std::map<std::string, torch::Tensor>& state,
                         const std::string& source_name) {
  return import_by_name(model, state, source_name, [](const std::string& name) {
    for (const char* gate : {"conv_i.", "conv_f.", "conv_g.", "conv_o."})
      if (name.rfind(gate, 0) == 0) return "lstm." + name;  // the reference's gates sit at the top level
    return name;
  });
}

int64_t LocationSirr::import_reference(const std::map<std::string, torch::Tensor>& state, const std::string& source) {
  return models::import_reference(*this, state, source);
}

}  // namespace dmgn::models
