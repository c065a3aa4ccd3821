// Location-aware SIRR (systems/location_sirr/location_sirr.h, systems/location_sirr/sirr_blocks.h, losses/composition.h,
// data/synth_linear.h, systems/location_sirr/recipe_location_sirr.cpp): the reference network's size, shapes,
// the Laplacian submodule, the ConvLSTM state across iterations, every new loss term against
// hand-computed values, the iteration weights, the synthesis, and training (the loss goes down,
// a killed run resumes bitwise).
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/config.h"
#include "core/error.h"
#include "core/rng.h"
#include "data/synth_linear.h"
#include "losses/composition.h"
#include "losses/terms.h"
#include "systems/location_sirr/location_sirr.h"
#include "nn/layers.h"
#include "systems/location_sirr/sirr_blocks.h"
#include "proc_util.h"
#include "process_test.h"
#include "resume_util.h"
#include "store/run_store.h"
#include "test_util.h"
#include "train/checkpoint.h"
#include "train/trainer.h"

namespace fs = std::filesystem;
using dmgn::Config;
using dmgn::models::LocationSirr;

namespace {

const std::string kSirrBase = std::string(DMGN_SOURCE_DIR) + "/experiments/location_sirr/base.toml";

// A tiny network of the same structure (every branch, 3 iterations).
std::vector<std::string> tiny_sirr() {
  return {"model.width=4", "model.hidden=8", "model.ae_widths=[4, 8, 8]", "model.cbam_reductions=[2, 4, 8]",
          "loss.perceptual.taps=[2]", "loss.perceptual.weights=[1.0]", "discriminator.ndf=4",
          "discriminator.layers=2"};
}

Config sirr_config(std::vector<std::string> sets = {}) {
  auto all = tiny_sirr();
  all.insert(all.end(), sets.begin(), sets.end());
  return Config::load(kSirrBase, all);
}

std::shared_ptr<LocationSirr> build(const Config& cfg, uint64_t seed = 0) {
  torch::manual_seed(seed);
  auto m = std::dynamic_pointer_cast<LocationSirr>(dmgn::models::build_model(cfg));
  EXPECT_TRUE(m);
  return m;
}

class Sirr : public dmgn::testing::ProcessTest {};

TEST_F(Sirr, TheReferenceNetworkHasItsParameterCount) {
  const Config full = Config::load(kSirrBase);
  auto m = build(full);
  const auto pc = dmgn::nn::count_parameters(*m);
  EXPECT_EQ(pc.total, 10925719);  // LRM of zdlarr/Location-aware-SIRR
  EXPECT_EQ(pc.trainable, 10925719);
  auto params = m->named_parameters();
  EXPECT_EQ(params["lap_pyramid.kernel"].numel(), 54);
  EXPECT_EQ(params["lstm.conv_i.0.weight"].sizes(), torch::IntArrayRef({64, 128, 3, 3}));
  // Table 2's rows change exactly the modules they name.
  const auto count = [&](std::vector<std::string> sets) {
    return dmgn::nn::count_parameters(*build(Config::load(kSirrBase, sets))).total;
  };
  EXPECT_EQ(count({"model.laplacian.scales=[1]"}), 10925719 - (24 - 6) * 32 * 9);  // SLSM: det_conv5 sees 6 ch
  EXPECT_EQ(count({"model.image_se_blocks=4"}), 10925719 - 2 * 19504);           // the paper's Fig. 2
  EXPECT_EQ(count({"model.laplacian.operator=\"edge\""}), 10925719 + 54 + (48 - 24) * 32 * 9);
  const auto fixed = dmgn::nn::count_parameters(*build(Config::load(kSirrBase, {"model.laplacian.learnable=false"})));
  EXPECT_EQ(fixed.total - fixed.trainable, 54);
  EXPECT_LT(count({"model.rdm=false", "model.tsm=false"}), 10925719);
  EXPECT_LT(count({"model.lstm=false"}), 10925719);
  EXPECT_NE(dmgn::testing::error_of<dmgn::ConfigError>([&] { count({"model.rdm=false"}); }).find("model.tsm"),
            std::string::npos);
}

TEST_F(Sirr, OutputsHaveTheDeclaredShapes) {
  auto m = build(sirr_config());
  const auto x = torch::rand({2, 3, 16, 24});
  const auto out = m->forward(x);
  for (const char* k : {"background_iters", "noise_iters", "confidence_iters"}) {
    const auto items = out.list(k);
    ASSERT_EQ(items.size(), 3u) << k;
    for (const auto& t : items) EXPECT_EQ(t.size(2), 16) << k;
  }
  EXPECT_EQ(out.at("background").sizes(), torch::IntArrayRef({2, 3, 16, 24}));
  EXPECT_TRUE(torch::equal(out.at("background"), out.list("background_iters").back()));
  EXPECT_EQ(out.at("confidence").sizes(), torch::IntArrayRef({2, 1, 16, 24}));
  EXPECT_EQ(out.at("frame_half").sizes(), torch::IntArrayRef({2, 3, 8, 12}));
  EXPECT_EQ(out.at("frame_quarter").sizes(), torch::IntArrayRef({2, 3, 4, 6}));
  EXPECT_GE(out.at("noise").min().item<double>(), 0.0);  // ReLU heads
  EXPECT_GT(out.at("confidence").min().item<double>(), 0.0);
  EXPECT_LT(out.at("confidence").max().item<double>(), 1.0);
  for (const auto& d : m->spec().outputs) EXPECT_TRUE(out.has(d.key)) << d.key;
  EXPECT_EQ(m->spec().iterations, 3);
  EXPECT_EQ(m->spec().size_multiple, 8);
  EXPECT_THROW(m->forward(torch::rand({1, 3, 12, 16})), c10::Error);  // not a multiple of 8
  // Without the RDM there is no RCMap, and the model says so.
  auto plain = build(sirr_config({"model.rdm=false", "model.tsm=false", "model.lstm=false"}));
  const auto o2 = plain->forward(x);
  EXPECT_FALSE(o2.has("confidence"));
  EXPECT_FALSE(plain->spec().declares("confidence_iters"));
  EXPECT_EQ(o2.list("background_iters").size(), 3u);
}

TEST_F(Sirr, TheLaplacianKernelStartsAtTheLaplacianAndLearns) {
  using namespace dmgn::nn;
  MlsmOptions o;
  o.channels = 2;
  o.scales = {1};
  Mlsm single(o);
  const auto k = single->kernel.detach();
  EXPECT_EQ(k.sizes(), torch::IntArrayRef({2, 1, 3, 3}));
  const float expect[9] = {0, -1, 0, -1, 4, -1, 0, -1, 0};
  for (int c = 0; c < 2; ++c)
    for (int i = 0; i < 9; ++i) EXPECT_EQ(k[c][0].flatten()[i].item<float>(), expect[i]);
  // A pixel by hand: 4 x - left - right - up - down (zero padding at the border).
  const auto x = torch::rand({1, 2, 5, 6});
  const auto y = single->forward(x);
  const auto a = x.accessor<float, 4>();
  const double centre = 4 * a[0][1][2][3] - a[0][1][1][3] - a[0][1][3][3] - a[0][1][2][2] - a[0][1][2][4];
  EXPECT_NEAR(y[0][1][2][3].item<double>(), centre, 1e-6);
  EXPECT_NEAR(y[0][0][0][0].item<double>(), 4 * a[0][0][0][0] - a[0][0][1][0] - a[0][0][0][1], 1e-6);
  // Four scales: 4 x channels, each back at full size; a constant image has no Laplacian inside.
  o.scales = {8, 4, 2, 1};
  Mlsm multi(o);
  const auto flat = multi->forward(torch::full({1, 2, 64, 64}, 0.7f));
  EXPECT_EQ(flat.sizes(), torch::IntArrayRef({1, 8, 64, 64}));
  EXPECT_NEAR(flat.slice(2, 24, 40).slice(3, 24, 40).abs().max().item<double>(), 0.0, 1e-6);
  EXPECT_GT(flat.abs().max().item<double>(), 0.1);  // the zero padding's border
  // Learnable: a loss moves the kernel; fixed: no gradient at all.
  multi->forward(torch::rand({1, 2, 16, 16})).pow(2).sum().backward();
  ASSERT_TRUE(multi->kernel.grad().defined());
  EXPECT_GT(multi->kernel.grad().abs().sum().item<double>(), 0.0);
  o.learnable = false;
  Mlsm fixed(o);
  EXPECT_FALSE(fixed->kernel.requires_grad());
  // RKI: N(0, 0.02) instead of the Laplacian.
  o.init = KernelInit::random;
  o.learnable = true;
  o.channels = 64;
  Mlsm rki(o);
  EXPECT_NEAR(rki->kernel.std().item<double>(), 0.02, 0.003);
}

TEST_F(Sirr, TheConvLstmStateIsCarriedAcrossIterations) {
  // The cell: c' = f c + i g, h' = o tanh(c') with its gate convolutions.
  dmgn::nn::ConvLstmCell cell(2, 3);
  const auto x = torch::rand({1, 2, 4, 4});
  const auto s1 = cell->forward(x, {});
  auto p = cell->named_parameters();
  const auto gate = [&](const char* g, const torch::Tensor& h) {
    const auto z = torch::cat({x, h}, 1);
    return torch::conv2d(z, p[std::string(g) + ".0.weight"], p[std::string(g) + ".0.bias"], 1, 1);
  };
  const auto h0 = torch::zeros({1, 3, 4, 4});
  const auto c1 = torch::sigmoid(gate("conv_i", h0)) * torch::tanh(gate("conv_g", h0));
  EXPECT_TRUE(torch::allclose(s1.c, c1, 1e-6, 1e-6));
  EXPECT_TRUE(torch::allclose(s1.h, torch::sigmoid(gate("conv_o", h0)) * torch::tanh(c1), 1e-6, 1e-6));
  const auto s2 = cell->forward(x, s1);
  const auto c2 = torch::sigmoid(gate("conv_f", s1.h)) * s1.c +
                  torch::sigmoid(gate("conv_i", s1.h)) * torch::tanh(gate("conv_g", s1.h));
  EXPECT_TRUE(torch::allclose(s2.c, c2, 1e-6, 1e-6));

  // The model: forward() equals iterations run by hand with one state carried through, and the
  // second iteration depends on that state (a fresh state gives another R_2).
  auto m = build(sirr_config({"model.iterations=2"}));
  torch::NoGradGuard g;
  const auto in = torch::rand({1, 3, 16, 16});
  const auto out = m->forward(in);
  dmgn::nn::LstmState state;
  const auto a = m->iterate(in, in, state);
  const auto b = m->iterate(in, a.background, state);
  EXPECT_TRUE(torch::equal(out.list("background_iters")[0], a.background));
  EXPECT_TRUE(torch::equal(out.list("noise_iters")[1], b.noise));
  EXPECT_TRUE(torch::equal(out.at("background"), b.background));
  dmgn::nn::LstmState fresh;
  const auto b0 = m->iterate(in, a.background, fresh);
  EXPECT_GT((b0.noise - b.noise).abs().max().item<double>(), 1e-6);
  // Without the LSTM nothing is carried: the same iteration from a fresh state is identical.
  auto nol = build(sirr_config({"model.iterations=2", "model.lstm=false"}));
  dmgn::nn::LstmState s_a, s_b;
  const auto first = nol->iterate(in, in, s_a);
  const auto again = nol->iterate(in, first.background, s_a);
  const auto fresh2 = nol->iterate(in, first.background, s_b);
  EXPECT_TRUE(torch::equal(again.noise, fresh2.noise));
}

// One-pixel, two-sample tensors with values chosen by hand.
torch::Tensor px(std::vector<float> per_sample_rgb, int64_t n) {
  return torch::tensor(per_sample_rgb).view({n, 3, 1, 1});
}

TEST_F(Sirr, CompositionLossesMatchHandComputedValues) {
  const Config cfg = sirr_config({"loss.terms.bce.loss=\"rcmap_bce\""});  // selects [loss.rcmap_bce]
  const dmgn::losses::LossContext ctx{nullptr, dmgn::models::InputRange::zero_one};
  std::map<std::string, torch::Tensor> batch;
  batch["input"] = px({0.5f, 0.6f, 0.7f}, 1);
  batch["background"] = px({0.4f, 0.4f, 0.4f}, 1);
  batch["noise"] = px({0.2f, 0.1f, 0.3f}, 1);
  batch["alpha"] = torch::tensor({0.9f}).view({1, 1, 1});
  const auto loss = [&](const char* name, const torch::Tensor& y) {
    auto l = std::dynamic_pointer_cast<dmgn::losses::BatchLoss>(dmgn::losses::losses().make(name, cfg, ctx));
    EXPECT_TRUE(l) << name;
    return (*l)(y, batch).item<double>();
  };
  // L_C with C = 0.5: I - (0.5 T + R) = (0.5 - 0.4, 0.6 - 0.3, 0.7 - 0.5) = (0.1, 0.3, 0.2).
  const double lc = (0.01 + 0.09 + 0.04) / 3;
  EXPECT_NEAR(loss("rcmap_composition", torch::full({1, 1, 1, 1}, 0.5f)), lc, 1e-7);
  // L_res: g(x) = x^2.2.
  const auto g = [](double v) { return std::pow(v, 2.2); };
  const double r_hat[3] = {0.25, 0.3, 0.35}, in[3] = {0.5, 0.6, 0.7}, rr[3] = {0.2, 0.1, 0.3};
  double res_r = 0, res_t = 0;
  for (int c = 0; c < 3; ++c) {
    res_r += std::pow(g(in[c]) - (0.9 * g(0.4) + g(r_hat[c])), 2) / 3;
    res_t += std::pow(g(in[c]) - (0.9 * g(r_hat[c]) + g(rr[c])), 2) / 3;
  }
  EXPECT_NEAR(loss("residual_reflection", px({0.25f, 0.3f, 0.35f}, 1)), res_r, 1e-7);
  EXPECT_NEAR(loss("residual_transmission", px({0.25f, 0.3f, 0.35f}, 1)), res_t, 1e-7);

  // L_C^B: gray |I - T| per pixel, threshold max(min + 0.3 (max - min), 0.3) per sample.
  auto i2 = torch::zeros({1, 3, 1, 3}), t2 = torch::zeros({1, 3, 1, 3});
  i2.select(3, 0).fill_(0.1);  // gray 0.1
  i2.select(3, 1).fill_(0.5);  // gray 0.5
  i2.select(3, 2).fill_(0.9);  // gray 0.9: gamma = max(0.1 + 0.3 * 0.8, 0.3) = 0.34
  const auto gt = dmgn::losses::rcmap_ground_truth(i2, t2, 0.3);
  EXPECT_TRUE(torch::equal(gt.flatten(), torch::tensor({0.f, 1.f, 1.f})));
  batch["input"] = i2;
  batch["background"] = t2;
  const auto c = torch::tensor({0.2f, 0.7f, 0.6f}).view({1, 1, 1, 3});
  const double bce = -(std::log(0.8) + std::log(0.7) + std::log(0.6)) / 3;
  EXPECT_NEAR(loss("rcmap_bce", c), bce, 1e-6);
}

// Scores a fixed function of the image: D(b) = sum over channels.
class SumDisc : public dmgn::nn::Discriminator {
 public:
  torch::Tensor forward(const torch::Tensor& b, const torch::Tensor&) override { return b.sum(1, true); }
};

TEST_F(Sirr, TheGanFormIsMinusLogD) {
  const Config cfg = sirr_config();
  const dmgn::losses::LossContext ctx{nullptr, dmgn::models::InputRange::zero_one};
  auto adv = dmgn::losses::adversarial_loss("adversarial", cfg, ctx);
  SumDisc d;
  const auto fake = torch::full({1, 3, 1, 1}, 0.2f), real = torch::full({1, 3, 1, 1}, -0.1f);
  const double s_fake = 0.6, s_real = -0.3;
  const auto sig = [](double v) { return 1 / (1 + std::exp(-v)); };
  EXPECT_NEAR(adv->generator(d, fake, {}).item<double>(), -std::log(sig(s_fake)), 1e-6);
  EXPECT_NEAR(adv->critic(d, fake, real, {}).item<double>(),
              0.5 * (-std::log(sig(s_real)) - std::log(1 - sig(s_fake))), 1e-6);
}

TEST_F(Sirr, IterationsAreWeightedThetaToTheNMinusIAndSideOutputsSeeDownscaledTargets) {
  // Only L1 terms: on T_i per iteration (decay 0.85) and on the H/2 frame.
  std::vector<std::string> sets;
  for (const char* t : {"comp_c", "comp_res_r", "comp_res_t", "p_t", "p_half", "p_quarter", "mix_ssim", "adv"})
    sets.push_back(std::string("loss.terms.") + t + ".weight=0");
  for (const char* s : {"loss.terms.mix_l1.weight=1.0", "loss.terms.half.loss=\"l1\"",
                        "loss.terms.half.output=\"frame_half\"", "loss.terms.half.target=\"background\"",
                        "loss.terms.half.weight=2.0", "loss.terms.half.order=9"})
    sets.push_back(s);
  const Config cfg = sirr_config(sets);
  auto m = build(cfg);
  const dmgn::losses::TermSet terms(cfg, *m);
  torch::NoGradGuard g;
  const auto x = torch::rand({1, 3, 16, 16}), t = torch::rand({1, 3, 16, 16});
  const auto out = m->forward(x);
  const auto tv = terms.evaluate("generator", out, {{"input", x}, {"background", t}}, {});
  ASSERT_EQ(tv.terms.size(), 2u);
  const auto ts = out.list("background_iters");
  double expect = 0;
  for (int i = 0; i < 3; ++i) expect += std::pow(0.85, 2 - i) * (ts[i] - t).abs().mean().item<double>();
  EXPECT_NEAR(tv.terms[0].second.item<double>(), expect, 1e-6);
  const auto t_half = torch::avg_pool2d(t, {2, 2}, {2, 2});
  EXPECT_NEAR(tv.terms[1].second.item<double>(), 2.0 * (out.at("frame_half") - t_half).abs().mean().item<double>(),
              1e-6);
}

TEST_F(Sirr, TheLinearSynthesisIsEquationSixAndKeepsAlpha) {
  cv::Mat t(2, 2, CV_32FC3, cv::Scalar(0.5, 0.2, 0.8)), r(2, 2, CV_32FC3, cv::Scalar(0.3, 0.6, 0.1));
  dmgn::data::LinearBlendParams p;
  p.alpha = 0.85;
  const auto out = dmgn::data::synthesize_linear_blend(t, r, p);
  const double tv[3] = {0.5, 0.2, 0.8}, rv[3] = {0.3, 0.6, 0.1};
  for (int c = 0; c < 3; ++c) {
    const double expect = std::pow(std::min(1.0, 0.85 * std::pow(tv[c], 2.2) + std::pow(rv[c], 2.2)), 1 / 2.2);
    EXPECT_NEAR(out.input.at<cv::Vec3f>(1, 1)[c], expect, 1e-5);
    EXPECT_NEAR(out.noise.at<cv::Vec3f>(0, 1)[c], rv[c], 1e-5);  // R as it appears in I
    EXPECT_NEAR(out.background.at<cv::Vec3f>(1, 0)[c], tv[c], 1e-7);
  }
  ASSERT_EQ(out.extra.count("alpha"), 1u);
  EXPECT_NEAR(out.extra.at("alpha").at<float>(0, 0), 0.85, 1e-7);
  // Drawn: alpha within [0.8, 1] for the paper's range.
  const Config cfg = sirr_config();
  const dmgn::data::ReflectionLinear synth(dmgn::data::LinearBlendOptions::from_config(cfg));
  dmgn::Rng rng(3);
  for (int i = 0; i < 20; ++i) {
    const double a = synth.synthesize({t, r, {}}, rng).extra.at("alpha").at<float>(0, 0);
    EXPECT_GE(a, 0.8);
    EXPECT_LE(a, 1.0);
  }
}

std::vector<std::string> tiny_train(const fs::path& dir) {
  auto v = tiny_sirr();
  for (const std::string& s :
       {"data.crop=32", "data.builtin.train_pairs=16", "data.builtin.heldout_pairs=2", "data.builtin.heldout_size=32",
        "data.workers=0", "train.val_every=0", "train.checkpoint_every=0", "runtime.threads=1",
        "runtime.progress=false", "optim.lr=0.002", "optim.d_lr=0.002"})
    v.push_back(s);
  v.push_back("runtime.store=\"" + (dir / "runs.sqlite").string() + "\"");
  v.push_back("runtime.out_dir=\"" + (dir / "runs").string() + "\"");
  return v;
}

TEST_F(Sirr, AShortRunLowersTheLossAndIsStored) {
  const auto dir = dmgn::testing::scratch("sirr_train");
  auto o = tiny_train(dir);
  for (const char* s : {"train.max_steps=40", "runtime.log_every=1"}) o.push_back(s);
  const auto summary = dmgn::train::run_training(Config::load(kSirrBase, o));
  dmgn::store::RunStore store(dir / "runs.sqlite");
  std::vector<double> loss;
  for (const auto& m : store.metrics(summary.run_id, "train", "loss")) loss.push_back(m.value);
  ASSERT_EQ(loss.size(), 40u);
  const auto mean = [&](size_t from, size_t to) {
    double s = 0;
    for (size_t i = from; i < to; ++i) s += loss[i];
    return s / static_cast<double>(to - from);
  };
  EXPECT_LT(mean(30, 40), 0.9 * mean(0, 10)) << "first " << mean(0, 10) << " last " << mean(30, 40);
  // Every term was logged, the discriminator trained, and the run is marked as using a random VGG.
  for (const char* t : {"comp_c", "comp_res_r", "comp_res_t", "p_t", "p_half", "p_quarter", "mix_ssim", "mix_l1", "adv",
                        "d_loss"})
    EXPECT_EQ(store.metrics(summary.run_id, "train", t).size(), 40u) << t;
  const auto runs = store.runs();
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].provenance.at("vgg_weights"), "random");
  EXPECT_EQ(runs[0].status, "completed");
}

TEST_F(Sirr, AKilledRunResumesBitwise) {
  const auto dir = dmgn::testing::scratch("sirr_kill");
  auto common = tiny_train(dir);
  for (const char* s : {"train.max_steps=10", "train.checkpoint_every=2", "runtime.log_every=1", "runtime.progress=true"})
    common.push_back(s);
  const auto run = dmgn::testing::run_whole_and_killed(dir, {"train", kSirrBase}, common, 10, 3, 8);
  ASSERT_GT(run.killed_at, 0);
  const auto& whole = run.whole_sets;

  // Same parameters (model and discriminator: the whole final checkpoint) and the same logged
  // losses, bitwise.
  const auto last = [&](const char* store_name) {
    dmgn::store::RunStore s(dir / store_name);
    const auto runs = s.runs();
    EXPECT_EQ(runs.size(), 1u);
    EXPECT_EQ(runs.at(0).status, "completed");
    return *dmgn::train::latest_checkpoint(fs::path(runs.at(0).run_dir) / "checkpoints");
  };
  const Config cfg = Config::load(kSirrBase, whole);
  auto mw = build(cfg, 1), mb = build(cfg, 2);
  dmgn::train::load_checkpoint(last("whole.sqlite"), dmgn::train::CheckpointParts::weights(mw.get()));
  dmgn::train::load_checkpoint(last("broken.sqlite"), dmgn::train::CheckpointParts::weights(mb.get()));
  auto pb = mb->named_parameters();
  for (const auto& item : mw->named_parameters())
    EXPECT_TRUE(torch::equal(item.value(), pb[item.key()])) << item.key();
  const auto losses_of = [&](const char* store_name) {
    dmgn::store::RunStore s(dir / store_name);
    std::vector<double> v;
    for (const char* name : {"loss", "d_loss", "comp_c", "adv"})
      for (const auto& m : s.metrics(s.runs().at(0).id, "train", name)) v.push_back(m.value);
    return v;
  };
  const auto lw = losses_of("whole.sqlite"), lb = losses_of("broken.sqlite");
  EXPECT_EQ(lw.size(), 40u);
  EXPECT_EQ(lw, lb);
}

}  // namespace
