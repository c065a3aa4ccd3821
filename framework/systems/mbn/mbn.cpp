#include "systems/mbn/mbn.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "core/error.h"
#include "core/log.h"

namespace dmgn::models {
namespace {

namespace F = torch::nn::functional;

// Bicubic resize (PyTorch's, align_corners false): the reference's F.interpolate for the
// pyramid between R-MBN stages and for the coarse-to-fine upsampling.
torch::Tensor bicubic(const torch::Tensor& x, int64_t h, int64_t w) {
  return F::interpolate(
      x, F::InterpolateFuncOptions().size(std::vector<int64_t>{h, w}).mode(torch::kBicubic).align_corners(false));
}

const std::vector<std::string>& known_tasks() {
  static const std::vector<std::string> t{"rain", "blur", "jpeg", "haze"};
  return t;
}

int64_t count(const torch::nn::Module& m) {
  int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  return n;
}

// An upper bound of the minimal design's receptive radius, in input pixels, when every block is
// local (no channel attention, no fused SE branch): walking one path at scale s (input pixels
// per feature pixel), a k x k convolution of dilation d adds (k - 1) / 2 * d * s, and every change
// of resolution (stride-2 convolution, pixel shuffle) adds one cell of the coarser scale for the
// alignment of its cells.
int64_t minimal_local_radius() {
  int64_t r = 0, s = 1;
  const auto conv = [&](int64_t k, int64_t d = 1) { r += (k - 1) / 2 * d * s; };
  const auto down = [&] { r += 2 * s, s *= 2; };  // a stride-2 3x3 convolution, its cell included
  const auto up = [&] { r += s, s /= 2; };         // 1x1 convolution + PixelShuffle(2)
  conv(3), down(), down();                         // PlainHead: conv1, conv2 (s2), conv3 (s2)
  for (int i = 1; i <= 5; ++i) {                   // DuRB-M M1..M5 without attention or fusion
    const auto o = nn::mbn_trunk_block(i);
    conv(3), conv(3);                              // the base block's two convolutions
    up();
    conv(o.k1, o.dilation);                        // up_conv
    down();                                        // down_conv
  }
  up(), conv(3), up(), conv(3), conv(3);           // DecoderUp2
  return r;
}

}  // namespace

Mbn::Mbn(const Config& cfg) {
  const Config m = cfg.sub("model");
  const std::string design = m.get_string("design");
  if (design != "improved" && design != "minimal")
    throw ConfigError(fmt::format("config key 'model.design': '{}' is not one of improved, minimal", design));
  minimal_ = design == "minimal";
  const std::string mode = m.get_string("mode");
  if (mode != "forward" && mode != "recurrent")
    throw ConfigError(fmt::format("config key 'model.mode': '{}' is not one of forward, recurrent", mode));
  recurrent_ = mode == "recurrent";
  rain_iterations_ = m.get_int("rain_iterations");
  if (rain_iterations_ < 1) throw ConfigError("config key 'model.rain_iterations' must be >= 1");
  order_ = m.get_strings("order");
  for (const auto& t : order_)
    if (std::find(known_tasks().begin(), known_tasks().end(), t) == known_tasks().end())
      throw ConfigError(fmt::format("config key 'model.order': '{}' is not one of {}", t, fmt::join(known_tasks(), ", ")));
  if (recurrent_ && order_.empty()) throw ConfigError("config key 'model.order' is empty (R-MBN needs a stage)");

  nn::DurbOptions block;
  block.attention = nn::attention_kind(m.get_string("attention"), "model.attention");
  block.fusion = m.get_bool("fusion");
  block.tv_beta = m.get_float("tv_beta");
  const auto make_block = [&](int i) {
    nn::DurbOptions o = nn::mbn_trunk_block(i);
    o.attention = block.attention;
    o.fusion = block.fusion;
    o.tv_beta = block.tv_beta;
    blocks_.push_back(register_module(fmt::format("DuRB{}", i), nn::DurbM(o)));
  };
  if (minimal_) {
    // The minimal design (supplementary Table 7/8): one input branch, M1..M5, identical g_i.
    head_ = register_module("head", nn::PlainHead());
    for (int i = 1; i <= 5; ++i) make_block(i);
    const char* tasks[4] = {"rain", "blur", "jpeg", "haze"};
    for (int i = 0; i < 4; ++i) minimal_dec_.emplace(tasks[i], register_module(fmt::format("dec_{}", i + 1), nn::DecoderUp2()));
  } else {
    // EnDNet's registration order (its state dict's order).
    rain_head_ = register_module("rain_head", nn::LstmHead());
    blur_head_ = register_module("blur_head", nn::C2fHead());
    jpeg_head_ = register_module("jpeg_head", nn::C2fHead());
    haze_head_ = register_module("haze_head", nn::PlainHead());
    for (int i = 1; i <= 5; ++i) make_block(i);
    dec1_ = register_module("dec_1", nn::DecoderUp1());
    make_block(6);
    dec2_ = register_module("dec_2", nn::C2fTail());
    make_block(7);
    dec3_ = register_module("dec_3", nn::C2fTail());
    make_block(8);
    dec4_ = register_module("dec_4", nn::DecoderUp2());
  }

  path_ = m.get_string("path");
  if (path_.empty()) path_ = cfg.get_string("task.name");
  if (std::find(known_tasks().begin(), known_tasks().end(), path_) == known_tasks().end())
    path_ = recurrent_ ? order_.front() : "haze";  // a routed task replaces it (evaluation, recipes)

  spec_.input_range = InputRange::zero_one;
  spec_.size_multiple = 16;
  // Local operations only (the minimal design without attention or fusion: convolutions,
  // ReLU, pixel shuffles, tanh): an image too large for memory is restored in tiles, exactly.
  // R-MBN's stages chain, so their radii add.
  if (minimal_ && block.attention == nn::AttentionKind::none && !block.fusion)
    spec_.receptive_radius = minimal_local_radius() * static_cast<int64_t>(recurrent_ ? order_.size() : 1);
  spec_.task = cfg.get_string("task.name");
  spec_.primary = "background";
  spec_.iterations = 1;
  using K = OutputDecl::Kind;
  spec_.outputs = {
      {"background", K::image, false, recurrent_ ? "the last stage's output (R-MBN)" : "the routed path's output",
       recurrent_ ? "chain.out" : ""},
      {"scales", K::image, true, "the path's outputs, coarse to fine (3 for blur / JPEG, else 1)", recurrent_ ? "" : "*.out"},
  };
  if (recurrent_) {
    spec_.outputs.push_back({"stages", K::image, true, "each stage's output before clamping, in model.order",
                             "chain.stage"});
    spec_.outputs.push_back({"intermediate", K::image, false,
                             "the stage of the batch's own task (set by the mbn recipe for R-MBN's 0.8 term)", ""});
    for (const auto& t : order_)
      spec_.outputs.push_back({"stage_" + t, K::image, false, "the " + t + " stage's output (R-MBN)", ""});
  }
}

void Mbn::route(const std::string& task) {
  if (recurrent_) {  // R-MBN's chain takes any degradation; the task only names it
    path_ = task;
    return;
  }
  if (std::find(known_tasks().begin(), known_tasks().end(), task) == known_tasks().end())
    throw DataError(fmt::format("MBN has no branch for task '{}' (its branches: {}); mixed or unknown degradations "
                                "need R-MBN (model.mode = \"recurrent\")",
                                task, fmt::join(known_tasks(), ", ")));
  path_ = task;
}

Mbn::Trunk Mbn::run_blocks(Trunk t, int last) {
  for (int i = 0; i < last; ++i) {
    auto o = blocks_[static_cast<size_t>(i)]->forward(t.x, t.res);
    t = {o.x, o.res};
  }
  return t;
}

std::vector<torch::Tensor> Mbn::coarse_to_fine(const torch::Tensor& input, bool jpeg) {
  const int64_t h = input.size(2), w = input.size(3);
  const auto mid = bicubic(input, h / 2, w / 2);
  const auto coarse = bicubic(mid, h / 4, w / 4);
  const torch::Tensor images[3] = {coarse, mid, input};
  auto& head = jpeg ? jpeg_head_ : blur_head_;
  auto& tail = jpeg ? dec3_ : dec2_;
  std::vector<torch::Tensor> outs;
  for (int s = 0; s < 3; ++s) {
    torch::Tensor x = images[s];
    if (s > 0) x = torch::cat({x, bicubic(outs.back(), images[s].size(2), images[s].size(3))}, 1);
    const auto scale = nn::scale_from_index(s);
    const auto hd = head->forward(x, scale);
    const auto t = run_blocks({hd.x, hd.res}, jpeg ? 7 : 6);
    outs.push_back(tail->forward(t.x, images[s], scale));
  }
  return outs;
}

std::vector<torch::Tensor> Mbn::run_path(const std::string& task, const torch::Tensor& input) {
  if (input.size(2) % 16 || input.size(3) % 16)
    throw DataError(fmt::format("MBN takes sides that are multiples of 16, not {}x{}", input.size(2), input.size(3)));
  if (minimal_) {
    const auto hd = head_->forward(input);
    const auto t = run_blocks({hd.x, hd.res}, 5);
    return {minimal_dec_.at(task)->forward(t.x, input)};
  }
  if (task == "rain") {
    nn::LstmState state{torch::zeros({input.size(0), 32, input.size(2), input.size(3)}, input.options()),
                        torch::zeros({input.size(0), 32, input.size(2), input.size(3)}, input.options())};
    torch::Tensor x = input;
    for (int64_t i = 0; i < rain_iterations_; ++i) {
      const auto hd = rain_head_->forward(x, input, state);
      const auto t = run_blocks({hd.x, hd.res}, 5);
      x = dec1_->forward(t.x, input);
    }
    return {x};
  }
  if (task == "blur" || task == "jpeg") return coarse_to_fine(input, task == "jpeg");
  if (task == "haze") {
    const auto hd = haze_head_->forward(input);
    const auto t = run_blocks({hd.x, hd.res}, 8);
    return {dec4_->forward(t.x, input)};
  }
  throw DataError(fmt::format("MBN has no branch for task '{}'", task));
}

Outputs Mbn::forward(const torch::Tensor& input) {
  Outputs out;
  if (!recurrent_) {
    auto scales = run_path(path_, input);
    out.set("background", scales.back());
    out.set_list("scales", std::move(scales));
    return out;
  }
  torch::Tensor x = input;
  std::vector<torch::Tensor> stages, last;
  for (size_t i = 0; i < order_.size(); ++i) {
    // Each stage starts from the previous one's output clamped to [0, 1] (test_RMBN.py's
    // ProcessResult); gradients pass where the output is inside the range.
    last = run_path(order_[i], i == 0 ? x : stages.back().clamp(0, 1));
    stages.push_back(last.back());
    out.set("stage_" + order_[i], last.back());
  }
  out.set("background", stages.back());
  out.set_list("scales", std::move(last));
  out.set_list("stages", std::move(stages));
  return out;
}

int64_t Mbn::import_reference(const std::map<std::string, torch::Tensor>& state, const std::string& source) {
  static const std::string kSeq = ".down_atten.";
  std::map<std::string, torch::Tensor> kept;
  int64_t duplicates = 0;
  for (const auto& [raw, t] : state) {
    const auto at = raw.find(kSeq);
    if (at == std::string::npos) {
      kept.emplace(raw, t);
      continue;
    }
    const std::string rest = raw.substr(at + kSeq.size());  // "0.conv1.conv2d.weight"
    const auto dot = rest.find('.');
    const std::string index = rest.substr(0, dot);
    const char* member = index == "0" ? "down_se" : index == "1" ? "down_seconv" : nullptr;
    if (!member || dot == std::string::npos)
      throw DataError(fmt::format("'{}': tensor '{}': the reference's down_atten holds 0 (down_se) and 1 "
                                  "(down_seconv) only",
                                  source, raw));
    const std::string twin = fmt::format("{}.{}.{}", raw.substr(0, at), member, rest.substr(dot + 1));
    const auto it = state.find(twin);
    if (it == state.end()) {  // saved under the Sequential's name only
      kept.emplace(twin, t);
      continue;
    }
    if (it->second.sizes() != t.sizes() || !torch::equal(it->second, t))
      throw DataError(fmt::format("'{}': tensor '{}' differs from its twin '{}' (the reference registers them as one "
                                  "module twice: they must be equal)",
                                  source, raw, twin));
    ++duplicates;
  }
  const int64_t copied = Model::import_reference(kept, source);
  if (duplicates > 0)
    log::info(fmt::format("'{}': {} duplicate down_atten.* tensor(s), each equal to its down_se / down_seconv twin",
                          source, duplicates));
  return copied;
}

int64_t Mbn::vestigial_parameters() const {
  return minimal_ ? 0 : dec2_->vestigial_parameters() + dec3_->vestigial_parameters();
}

Mbn::Sections Mbn::sections() const {
  Sections s;
  if (minimal_) {
    s.input = count(*head_);
    for (const auto& [t, d] : minimal_dec_) s.output += count(*d);
  } else {
    s.input = count(*rain_head_) + count(*blur_head_) + count(*jpeg_head_) + count(*haze_head_);
    s.output = count(*dec1_) + count(*dec2_) + count(*dec3_) + count(*dec4_);
    for (size_t i = 5; i < blocks_.size(); ++i) s.output += count(*blocks_[i]);
  }
  for (size_t i = 0; i < 5; ++i) s.stem += count(*blocks_[i]);
  return s;
}

std::vector<std::pair<std::string, int64_t>> Mbn::parameter_sections() const {
  const auto s = sections();
  return {{"input branches", s.input}, {"stem", s.stem}, {"output branches", s.output}};
}

std::vector<torch::nn::Module*> Mbn::input_branches() {
  if (minimal_) return {head_.get()};
  return {rain_head_.get(), blur_head_.get(), jpeg_head_.get(), haze_head_.get()};
}

InputRequirement mbn_input_requirement(const Config& cfg) {
  const Config m = cfg.sub("model");
  InputRequirement r;
  r.multiple = 16;
  r.multiple_why = "MBN: run_path takes sides that are multiples of 16 (the stem's stride-2 levels)";
  r.min_side = 16;
  if (m.get_string("design") == "minimal") {  // one plain branch, M1..M5, single scale
    r.why = "MBN's minimal design: its sides are multiples of 16";
    return r;
  }
  // The paths this model can take: R-MBN's stages, or any task a sample routes MBN to.
  const bool recurrent = m.get_string("mode") == "recurrent";
  const std::vector<std::string> paths = recurrent ? m.get_strings("order") : known_tasks();
  const auto c2f = std::find_if(paths.begin(), paths.end(), [](const auto& t) { return t == "blur" || t == "jpeg"; });
  if (c2f == paths.end()) {
    r.why = "MBN: its sides are multiples of 16 (model.order has no blur or JPEG stage)";
    return r;
  }
  // The blur and JPEG paths' coarse pass works at 1/16 of the input in the stem, where M6's
  // dilated 7x7 up_conv reflection-pads by 6 at 1/8: 64 px is the smallest multiple of 16 that
  // fits (the reference fails at 48 the same way). Their "scales" (R-MBN's: its last stage's)
  // start at 1/4.
  r.min_side = 64;
  r.why = fmt::format("{}: the coarse pass reaches 1/8 in M6's up_conv, whose dilated 7x7 kernel reflection-pads by 6",
                      recurrent ? "model.order's " + *c2f + " stage" : std::string("MBN routes any task, blur and JPEG included"));
  if (!recurrent || paths.back() == "blur" || paths.back() == "jpeg") r.downscale = {{"scales", 4}};
  return r;
}

}  // namespace dmgn::models
