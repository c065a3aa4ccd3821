// MBN / R-MBN (systems/mbn/mbn.h, systems/mbn/mbn_branches.h, data/multitask.h): the reference's parameter
// counts and names, every path's shapes, the reference's pixel-unshuffle order, R-MBN's clamping
// between stages, the task cycle's order and its exact resume position, the "mbn" metric preset.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <set>

#include "core/config.h"
#include "core/error.h"
#include "data/multitask.h"
#include "metrics/psnr_ssim.h"
#include "metrics/spec.h"
#include "systems/mbn/mbn.h"
#include "nn/layers.h"
#include "systems/mbn/mbn_branches.h"
#include "test_util.h"
#include "train/tiling.h"
#include "train/trainer.h"

namespace {

using dmgn::Config;
namespace nn = dmgn::nn;
namespace m = dmgn::metrics;

const std::string kMbnDir = std::string(DMGN_SOURCE_DIR) + "/experiments/mbn/";

std::shared_ptr<dmgn::models::Mbn> build(const std::vector<std::string>& sets = {}) {
  const Config cfg = Config::load(kMbnDir + "base.toml", sets);
  auto model = dmgn::models::build_model(cfg);
  auto mbn = std::dynamic_pointer_cast<dmgn::models::Mbn>(model);
  EXPECT_TRUE(mbn);
  return mbn;
}

TEST(Mbn, ParameterCountsAndNamesAreTheReferences) {
  auto mbn = build();
  // SEED-SYSTEMS.md: 11,254,072 = input branches 2,354,144 + stem 3,937,440 + output 4,962,488.
  EXPECT_EQ(nn::count_parameters(*mbn).total, 11254072);
  const auto s = mbn->sections();
  EXPECT_EQ(s.input, 2354144);
  EXPECT_EQ(s.stem, 3937440);
  EXPECT_EQ(s.output, 4962488);
  EXPECT_EQ(mbn->vestigial_parameters(), 2 * 2 * (32 * 3 * 9 + 3));  // M_conv, F_conv of g2 and g3
  // Branch by branch (the reference's module names).
  const auto branch = [&](const std::string& prefix) {
    int64_t n = 0;
    for (const auto& p : mbn->named_parameters())
      if (p.key().rfind(prefix + ".", 0) == 0) n += p.value().numel();
    return n;
  };
  EXPECT_EQ(branch("rain_head"), 315392);
  EXPECT_EQ(branch("blur_head"), 981984);
  EXPECT_EQ(branch("jpeg_head"), 981984);
  EXPECT_EQ(branch("haze_head"), 74784);
  EXPECT_EQ(branch("dec_1"), 40707);
  EXPECT_EQ(branch("dec_2"), 478089);
  EXPECT_EQ(branch("dec_4"), 128579);
  auto p = mbn->named_parameters();
  const std::vector<std::pair<std::string, std::vector<int64_t>>> shapes = {
      {"rain_head.lstm.comb_conv.conv2d.weight", {32, 6, 3, 3}},
      {"rain_head.lstm.conv_i.0.conv2d.weight", {32, 64, 3, 3}},
      {"rain_head.conv2.conv2d.weight", {96, 256, 3, 3}},
      {"blur_head.F_conv1.conv2d.weight", {32, 6, 3, 3}},
      {"blur_head.C_conv1.conv2d.weight", {32, 3, 3, 3}},
      {"jpeg_head.M_conv3.conv2d.weight", {96, 256, 3, 3}},
      {"haze_head.conv3.conv2d.weight", {96, 64, 3, 3}},
      {"dec_1.up1.upsamp.0.conv2d.weight", {192, 96, 1, 1}},
      {"dec_2.C_upsamp1.upsamp.0.conv2d.weight", {384, 96, 1, 1}},
      {"dec_3.F_upconv2.conv2d.weight", {32, 64, 3, 3}},
      {"dec_4.up2.upsamp.0.conv2d.weight", {256, 64, 1, 1}},
      {"DuRB8.merge.conv2d.weight", {96, 192, 3, 3}},
      {"DuRB7.up_conv.conv2d.weight", {64, 96, 11, 11}}};
  for (const auto& [name, shape] : shapes) {
    ASSERT_TRUE(p.contains(name)) << name;
    EXPECT_EQ(p[name].sizes(), torch::IntArrayRef(shape)) << name;
  }
  // The minimal design of Table 1 (supp. Table 7: 0.07 M + 3.94 M + 4 x 0.13 M).
  auto minimal = build({"model.design=\"minimal\""});
  const auto ms = minimal->sections();
  EXPECT_EQ(ms.input, 74784);
  EXPECT_EQ(ms.stem, 3937440);
  EXPECT_EQ(ms.output, 4 * 128579);
  // Table 1's block ablations change the stem: no attention / no fusion remove parameters.
  EXPECT_LT(build({"model.design=\"minimal\"", "model.fusion=false"})->sections().stem, ms.stem);
  EXPECT_LT(build({"model.design=\"minimal\"", "model.attention=\"none\""})->sections().stem, ms.stem);
  EXPECT_LT(build({"model.design=\"minimal\"", "model.attention=\"gap\""})->sections().stem, ms.stem);
}

// The reference's released MBN.pt holds the fusion attention twice (down_atten.0 = down_se,
// down_atten.1 = down_seconv): import-official maps the duplicates, checks them equal, and
// refuses a pair that differs.
TEST(Mbn, ImportsTheReferencesDuplicateDownAttenKeys) {
  auto source = build();
  std::map<std::string, torch::Tensor> state;
  int64_t duplicated = 0;
  for (const auto& p : source->named_parameters(true)) {
    const std::string name = p.key();
    state[name] = p.value().detach().clone();
    for (const auto& [member, index] : {std::pair{".down_se.", "0"}, std::pair{".down_seconv.", "1"}}) {
      const auto at = name.find(member);
      if (at == std::string::npos) continue;
      state[name.substr(0, at) + ".down_atten." + index + "." + name.substr(at + std::strlen(member))] =
          p.value().detach().clone();
      ++duplicated;
    }
  }
  ASSERT_GT(duplicated, 0);
  auto target = build({"run.seed=7"});
  EXPECT_EQ(target->import_reference(state, "MBN.pt"), static_cast<int64_t>(source->named_parameters(true).size()));
  for (const auto& p : target->named_parameters(true))
    EXPECT_TRUE(torch::equal(p.value(), state.at(p.key()))) << p.key();

  auto bad = state;
  auto& dup = std::find_if(bad.begin(), bad.end(), [](const auto& kv) {
                return kv.first.find(".down_atten.1.") != std::string::npos;
              })->second;
  dup = dup + 1.0;
  try {
    target->import_reference(bad, "MBN.pt");
    FAIL() << "a duplicate that differs from its twin was accepted";
  } catch (const dmgn::DataError& e) {
    EXPECT_NE(std::string(e.what()).find("differs from its twin"), std::string::npos) << e.what();
  }
}

// The minimal design without attention or fusion is local: it declares a receptive radius, the
// gradient of one output pixel reaches no input pixel beyond it, and an image restored in tiles
// overlapping by it equals the image restored whole (what `dmgn restore --tile` and evaluation of
// images too large for memory rely on).
TEST(Mbn, LocalDesignRestoresInTilesAsWhole) {
  using torch::indexing::Slice;
  EXPECT_EQ(build()->spec().receptive_radius, -1);  // the paper's design has global attention
  auto mbn = build({"model.design=\"minimal\"", "model.attention=\"none\"", "model.fusion=false"});
  const int64_t r = mbn->spec().receptive_radius;
  ASSERT_GT(r, 0);
  mbn->eval();
  torch::manual_seed(3);
  {
    const auto x = torch::rand({1, 3, 256, 256}).requires_grad_(true);
    mbn->forward(x).at("background").index({0, Slice(), 128, 128}).sum().backward();
    const auto reached = (x.grad().abs().sum(1)[0] > 0).nonzero();
    ASSERT_GT(reached.size(0), 0);
    ASSERT_LT(r, 128) << "the probe image is too small for the declared radius";
    const int64_t extent = (reached - 128).abs().max().item<int64_t>();
    EXPECT_LE(extent, r);
    EXPECT_GE(extent, 16) << "the probe reached too little of the image to test the bound";
  }
  c10::InferenceMode inference;
  const auto img = torch::rand({1, 3, 256, 288});
  const auto whole = mbn->forward(img).at("background");
  const int64_t overlap = (r + 15) / 16 * 16;
  const auto tiled = dmgn::train::restore_in_tiles(*mbn, img, {128, overlap}).at("background");
  ASSERT_EQ(tiled.sizes(), whole.sizes());
  const double err = (tiled - whole).abs().max().item<double>();
  EXPECT_LT(err, 1e-6);
  // Too little overlap is not the same image: the test can tell (an untrained model's output
  // depends only faintly on far pixels, so the gap is small, but far above the tiled one's).
  const auto short_context = dmgn::train::restore_in_tiles(*mbn, img, {128, 16}).at("background");
  const double short_err = (short_context - whole).abs().max().item<double>();
  EXPECT_GT(short_err, 20 * std::max(err, 1e-7)) << "tiled " << err << ", short context " << short_err;
}

TEST(Mbn, EveryPathRestoresAtItsScales) {
  torch::manual_seed(0);
  auto mbn = build();
  mbn->eval();
  torch::NoGradGuard g;
  const auto x = torch::rand({2, 3, 64, 80});
  for (const char* task : {"rain", "blur", "jpeg", "haze"}) {
    mbn->route(task);
    const auto out = mbn->forward(x);
    const auto scales = out.list("scales");
    const bool c2f = std::string(task) == "blur" || std::string(task) == "jpeg";
    ASSERT_EQ(scales.size(), c2f ? 3u : 1u) << task;
    for (size_t i = 0; i < scales.size(); ++i) {
      const int64_t f = int64_t{1} << (scales.size() - 1 - i);  // coarse 1/4, mid 1/2, fine 1
      EXPECT_EQ(scales[i].sizes(), torch::IntArrayRef({2, 3, 64 / f, 80 / f})) << task << " " << i;
    }
    EXPECT_TRUE(torch::equal(out.at("background"), scales.back())) << task;
    EXPECT_TRUE(torch::isfinite(scales.back()).all().item<bool>()) << task;
  }
  // Each path is its own branch pair: the outputs differ.
  mbn->route("rain");
  const auto rain = mbn->forward(x).at("background");
  mbn->route("haze");
  EXPECT_FALSE(torch::allclose(rain, mbn->forward(x).at("background")));
  try {
    mbn->route("mixed");
    FAIL() << "MBN has no mixed branch";
  } catch (const dmgn::DataError& e) {
    EXPECT_NE(std::string(e.what()).find("R-MBN"), std::string::npos) << e.what();
  }
  EXPECT_THROW(mbn->forward(torch::rand({1, 3, 72, 64})), dmgn::DataError);  // not a multiple of 16
  EXPECT_EQ(dmgn::models::input_requirement(Config::load(kMbnDir + "base.toml")).min_side, 64);
}

TEST(Mbn, PixelUnshuffleIsTheReferenceOrder) {
  // 1 x 1 x 2 x 4: [[a b c d], [e f g h]] -> channel i*2 + j holds x[2y + i, 2x + j].
  const auto x = torch::arange(8, torch::kFloat).view({1, 1, 2, 4});
  const auto y = nn::reference_pixel_unshuffle(x, 2);
  ASSERT_EQ(y.sizes(), torch::IntArrayRef({1, 4, 1, 2}));
  EXPECT_TRUE(torch::equal(y.flatten(), torch::tensor({0.f, 2.f, 1.f, 3.f, 4.f, 6.f, 5.f, 7.f})));
  // The same order as PyTorch's own pixel_unshuffle, on several channels and batches.
  const auto r = torch::rand({2, 3, 6, 8});
  EXPECT_TRUE(torch::equal(nn::reference_pixel_unshuffle(r, 2), torch::pixel_unshuffle(r, 2)));
  EXPECT_THROW(nn::reference_pixel_unshuffle(torch::rand({1, 1, 3, 4}), 2), dmgn::Error);
}

TEST(Mbn, RecurrentChainClampsBetweenStages) {
  torch::manual_seed(1);
  auto rmbn = build({"model.mode=\"recurrent\"", "model.order=[\"haze\", \"rain\"]"});
  rmbn->eval();
  torch::NoGradGuard g;
  // Push the haze stage's output above 1: its last conv's bias saturates tanh at +1.
  rmbn->named_parameters()["dec_4.conv3.conv2d.bias"].fill_(5.0);
  const auto x = 0.5 + 0.4 * torch::rand({1, 3, 64, 64});
  const auto out = rmbn->forward(x);
  const auto stages = out.list("stages");
  ASSERT_EQ(stages.size(), 2u);
  EXPECT_GT(stages[0].max().item<double>(), 1.2);
  EXPECT_TRUE(torch::equal(out.at("stage_haze"), stages[0]));
  EXPECT_TRUE(torch::equal(out.at("background"), stages[1]));
  // The rain stage ran on the clamped haze output, not on the raw one.
  EXPECT_TRUE(torch::equal(stages[1], rmbn->run_path("rain", stages[0].clamp(0, 1)).back()));
  EXPECT_FALSE(torch::allclose(stages[1], rmbn->run_path("rain", stages[0]).back()));
  // Routing does not change R-MBN's one path.
  rmbn->route("blur");
  EXPECT_TRUE(torch::equal(rmbn->forward(x).at("background"), stages[1]));
}

TEST(Mbn, TaskCycleOrderAndResumePosition) {
  namespace d = dmgn::data;
  EXPECT_EQ(d::cycle_order({1, 1, 1, 3}, false, 7, 0), (std::vector<size_t>{0, 1, 2, 3, 3, 3}));
  std::set<std::vector<size_t>> seen;
  for (uint64_t c = 0; c < 20; ++c) {
    auto o = d::cycle_order({1, 1, 1, 3}, true, 7, c);
    EXPECT_EQ(o, d::cycle_order({1, 1, 1, 3}, true, 7, c));  // a pure function of (seed, cycle)
    seen.insert(o);
    std::sort(o.begin(), o.end());
    EXPECT_EQ(o, (std::vector<size_t>{0, 1, 2, 3, 3, 3}));
  }
  EXPECT_GT(seen.size(), 5u);  // shuffled per cycle

  const auto dir = dmgn::testing::scratch("mbn_cycle");
  const Config cfg = Config::load(
      kMbnDir + "base.toml", {"data.builtin.train_pairs=5", "data.multitask.crops=[64, 64, 64, 64]", "train.batch_size=2",
                           "data.workers=0", "data.augment.short_side=[64, 96]"});
  auto ds = dmgn::train::open_for_model(cfg, "multitask", d::Split::train);
  EXPECT_EQ(ds->size(), 20u);
  EXPECT_EQ(ds->parts().size(), 4u);
  EXPECT_EQ(ds->parts()[1]->name(), "multitask/rain");
  EXPECT_EQ(ds->parts()[1]->task(), "rain");
  d::LoaderOptions lo;
  lo.batch_size = 2;
  lo.seed = 3;
  auto stream = d::open_stream(ds, lo);
  EXPECT_EQ(stream->batches_per_epoch(), 6);
  std::vector<d::Batch> batches;
  for (int i = 0; i < 20; ++i) batches.push_back(stream->next_rolling());
  // Every batch is one task's, at that task's crop; each cycle holds 1/1/1/3 of them.
  for (int c = 0; c < 3; ++c) {
    std::map<std::string, int> n;
    for (int i = 0; i < 6; ++i) {
      const auto& b = batches[static_cast<size_t>(c * 6 + i)];
      ASSERT_EQ(b.tasks.size(), 2u);
      EXPECT_EQ(b.tasks[0], b.tasks[1]);
      ++n[b.tasks[0]];
      EXPECT_EQ(b.input().size(-1), 64);
    }
    EXPECT_EQ(n, (std::map<std::string, int>{{"blur", 3}, {"haze", 1}, {"jpeg", 1}, {"rain", 1}}));
  }
  // Data-parallel: two ranks draw the same task at every step, from disjoint shards.
  d::LoaderOptions r0 = lo, r1 = lo;
  r0.world_size = r1.world_size = 2;
  r1.rank = 1;
  auto s0 = d::open_stream(ds, r0), s1 = d::open_stream(ds, r1);
  for (int i = 0; i < 12; ++i) {
    const auto a = s0->next_rolling(), b = s1->next_rolling();
    EXPECT_EQ(a.tasks, b.tasks) << i;
    for (const auto& id : a.ids) EXPECT_EQ(std::count(b.ids.begin(), b.ids.end(), id), 0) << i << " " << id;
  }
  // A fresh stream set to (cycle 2, index 2) continues exactly where batch 14 was.
  auto resumed = d::open_stream(ds, lo);
  resumed->set_position(2, 2);
  for (int i = 14; i < 20; ++i) {
    const auto b = resumed->next_rolling();
    EXPECT_EQ(b.ids, batches[static_cast<size_t>(i)].ids) << i;
    EXPECT_TRUE(torch::equal(b.input(), batches[static_cast<size_t>(i)].input())) << i;
  }
}

TEST(Mbn, MetricPresetTruncatesAndUsesFullRangeY) {
  // MBN's scripts: x255 in float32 then astype(uint8). 0.5 -> 127 (rounding would give 128).
  const auto grey = torch::full({3, 12, 12}, 0.5f), black = torch::zeros({3, 12, 12});
  EXPECT_NEAR(m::psnr(grey, black, m::preset("mbn_rgb")), 20 * std::log10(255.0 / 127.0), 1e-9);
  EXPECT_NEAR(m::psnr(grey, black, m::preset("skimage")), 20 * std::log10(255.0 / 128.0), 1e-9);
  // cv2 RGB2YCrCb on 8 bits: pure red -> (4899 * 255 + 8192) >> 14 = 76.
  auto red = torch::zeros({3, 12, 12});
  red[0].fill_(1.0);
  EXPECT_NEAR(m::psnr(red, black, m::preset("mbn")), 20 * std::log10(255.0 / 76.0), 1e-9);
  EXPECT_EQ(m::preset("mbn").window_size, 7);
  EXPECT_TRUE(m::preset("mbn").sample_covariance);
  // eval.metric = "mbn" scores haze (and mixed) in RGB, the other tasks on Y.
  const Config cfg = Config::load(kMbnDir + "base.toml");
  EXPECT_EQ(m::spec_from_config(cfg, "haze").name, "mbn_rgb");
  EXPECT_EQ(m::spec_from_config(cfg, "mixed").name, "mbn_rgb");
  EXPECT_EQ(m::spec_from_config(cfg, "jpeg").name, "mbn");
  EXPECT_EQ(m::task_spec("jpeg").name, "mbn");
}

}  // namespace
