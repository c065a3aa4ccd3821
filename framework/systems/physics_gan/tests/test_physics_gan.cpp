// Physics-GAN (systems/physics_gan/physics_gan.h, losses/physics.h, data/synth_blur.h, data/synth_sr.h,
// data/bicubic.h, train/image_pool.h): the reference networks' sizes and shapes, each physics
// operator against a hand-computed case, the syntheses agreeing with their operators, gradients
// reaching G through every operator, the image pool's sampling, the LSGAN targets and the
// linear learning-rate decay.
#include <gtest/gtest.h>

#include <cmath>

#include "core/config.h"
#include "core/error.h"
#include "core/rng.h"
#include "data/bicubic.h"
#include "data/synth_blur.h"
#include "data/synth_sr.h"
#include "data/synthesis.h"
#include "losses/losses.h"
#include "losses/physics.h"
#include "systems/physics_gan/physics_gan.h"
#include "nn/discriminators.h"
#include "nn/layers.h"
#include "process_test.h"
#include "test_util.h"
#include "train/image_pool.h"
#include "train/schedule.h"

using dmgn::Config;

namespace {

const std::string kPganDir = std::string(DMGN_SOURCE_DIR) + "/experiments/physics_gan/";

Config pgan(const std::string& file = "base.toml", std::vector<std::string> sets = {}) {
  return Config::load(kPganDir + file, sets);
}

std::shared_ptr<dmgn::models::PhysicsGan> build(const Config& cfg, uint64_t seed = 0) {
  torch::manual_seed(seed);
  auto m = std::dynamic_pointer_cast<dmgn::models::PhysicsGan>(dmgn::models::build_model(cfg));
  EXPECT_TRUE(m);
  return m;
}

dmgn::nn::DiscriminatorPtr discriminator(const Config& cfg) {
  return dmgn::nn::discriminators().make(cfg.get_string("discriminator.name"), cfg.sub("discriminator"));
}

// The bytes of an RGB float image as a 1 x 3 x H x W tensor.
torch::Tensor to_tensor(const cv::Mat& m) {
  return torch::from_blob(const_cast<float*>(m.ptr<float>()), {1, m.rows, m.cols, 3}, torch::kFloat32)
      .permute({0, 3, 1, 2})
      .clone();
}

cv::Mat random_image(int h, int w, uint64_t seed) {
  dmgn::Rng rng(seed);
  cv::Mat m(h, w, CV_32FC3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c) m.at<cv::Vec3f>(y, x)[c] = static_cast<float>(rng.uniform());
  return m;
}

class PhysicsGan : public dmgn::testing::ProcessTest {};

TEST_F(PhysicsGan, TheReferenceNetworksHaveTheirParameterCounts) {
  const Config cfg = pgan();
  auto g = build(cfg);
  EXPECT_EQ(dmgn::nn::count_parameters(*g).total, 11378179);  // resnet_9blocks, InstanceNorm affine=False
  EXPECT_EQ(dmgn::nn::count_parameters(*discriminator(cfg)).total, 2764737);  // 70x70 PatchGAN, n_layers 3
  // The reference's names: Sequential "model", blocks' "conv_block", deconvs at 19 and 22.
  auto p = g->named_parameters();
  EXPECT_EQ(p["model.1.weight"].sizes(), torch::IntArrayRef({64, 3, 7, 7}));
  EXPECT_EQ(p["model.10.conv_block.1.weight"].sizes(), torch::IntArrayRef({256, 256, 3, 3}));
  EXPECT_EQ(p["model.19.weight"].sizes(), torch::IntArrayRef({256, 128, 3, 3}));
  EXPECT_EQ(p["model.26.weight"].sizes(), torch::IntArrayRef({3, 64, 7, 7}));
  // Table 9's depths: each block is two 3x3 convs at 256 channels (the paper's 4.30 M at n = 3).
  EXPECT_EQ(dmgn::nn::count_parameters(*build(pgan("base.toml", {"model.blocks=3"}))).total, 4297219);
  EXPECT_EQ(dmgn::nn::count_parameters(*build(pgan("base.toml", {"model.blocks=35"}))).total,
            11378179 + 26 * 1180160);
}

TEST_F(PhysicsGan, OutputsKeepTheInputSizeAndTheDiscriminatorScoresPatches) {
  const Config cfg = pgan("base.toml", {"model.ngf=8", "model.blocks=2", "discriminator.ndf=8"});
  auto g = build(cfg);
  torch::NoGradGuard ng;
  const auto y = torch::rand({2, 3, 64, 48}) * 2 - 1;
  const auto out = g->forward(y);
  ASSERT_TRUE(out.has("background"));
  EXPECT_EQ(out.at("background").sizes(), y.sizes());
  EXPECT_LE(out.at("background").abs().max().item<double>(), 1.0);  // tanh
  EXPECT_EQ(g->spec().size_multiple, 4);
  EXPECT_TRUE(g->spec().declares("physics"));
  EXPECT_TRUE(g->spec().declares("physics_restored"));
  // 64 -> 32 -> 16 -> 8 (stride 2) -> 7 -> 6 (stride 1, 4x4 kernels, padding 1).
  EXPECT_EQ(discriminator(cfg)->forward(y, {}).sizes(), torch::IntArrayRef({2, 1, 6, 4}));
  EXPECT_EQ(dmgn::models::input_requirement(cfg).min_side, 8);
}

// Cross-correlation with reflect padding, written out: y[c][i][j] = sum_u,v k[u][v] x[c][r(i+u-p)][r(j+v-p)].
torch::Tensor direct_blur(const torch::Tensor& x, const torch::Tensor& k) {
  const int64_t h = x.size(2), w = x.size(3), kk = k.size(-1), p = (kk - 1) / 2;
  const auto refl = [](int64_t i, int64_t n) { return i < 0 ? -i : (i >= n ? 2 * (n - 1) - i : i); };
  auto y = torch::zeros_like(x);
  auto xa = x.accessor<float, 4>();
  auto ka = k.accessor<float, 4>();
  auto ya = y.accessor<float, 4>();
  for (int64_t n = 0; n < x.size(0); ++n)
    for (int64_t c = 0; c < x.size(1); ++c)
      for (int64_t i = 0; i < h; ++i)
        for (int64_t j = 0; j < w; ++j) {
          double s = 0;
          for (int64_t u = 0; u < kk; ++u)
            for (int64_t v = 0; v < kk; ++v) s += ka[n][0][u][v] * xa[n][c][refl(i + u - p, h)][refl(j + v - p, w)];
          ya[n][c][i][j] = static_cast<float>(s);
        }
  return y;
}

TEST_F(PhysicsGan, TheBlurOperatorIsAReflectPaddedCrossCorrelationWithEachSamplesKernel) {
  const Config cfg = pgan();
  auto op = dmgn::losses::physics_operators().make("blur", cfg, dmgn::models::InputRange::minus_one_one);
  torch::manual_seed(3);
  const auto x = torch::rand({2, 3, 9, 11}) * 2 - 1;
  // Asymmetric kernels (a correlation is not a convolution for them), each sample its own.
  auto k = torch::rand({2, 1, 5, 5});
  k = k / k.sum({2, 3}, true);
  std::map<std::string, torch::Tensor> batch{{"blur_kernel", k}};
  const auto y = op->apply(x, batch);
  EXPECT_LT((y - direct_blur(x, k)).abs().max().item<double>(), 1e-6);
  // A one-hot kernel shifts: k[0][2][3] = 1 takes x one column to the right of each pixel.
  auto shift = torch::zeros({2, 1, 5, 5});
  shift.index_put_({torch::indexing::Slice(), 0, 2, 3}, 1.0);
  const auto s = op->apply(x, {{"blur_kernel", shift}});
  using torch::indexing::Slice;
  EXPECT_TRUE(torch::allclose(s.index({Slice(), Slice(), Slice(), Slice(0, 10)}),
                              x.index({Slice(), Slice(), Slice(), Slice(1, 11)})));
  // The kernel is renormalised (as the reference's loader does) and a missing one is named.
  EXPECT_TRUE(torch::allclose(op->apply(x, {{"blur_kernel", k * 3}}), y, 1e-5, 1e-6));
  const auto err = dmgn::testing::error_of<dmgn::DataError>([&] { op->apply(x, {}); });
  EXPECT_NE(err.find("blur_kernel"), std::string::npos) << err;
}

TEST_F(PhysicsGan, TheHazeOperatorIsTheAtmosphericModelInTheModelsRange) {
  const Config cfg = pgan();
  const auto x01 = torch::tensor({0.2f, 0.5f, 0.9f}).view({1, 3, 1, 1});
  const auto t = torch::full({1, 1, 1, 1}, 0.25f);
  const auto a = torch::tensor({0.8f, 0.9f, 1.0f}).view({1, 3, 1, 1});
  const std::map<std::string, torch::Tensor> batch{{"transmission", t}, {"airlight", a}};
  // [0, 1]: J t + A (1 - t), by hand.
  auto op01 = dmgn::losses::physics_operators().make("haze", cfg, dmgn::models::InputRange::zero_one);
  const auto y01 = op01->apply(x01, batch);
  const std::vector<float> want{0.2f * 0.25f + 0.8f * 0.75f, 0.5f * 0.25f + 0.9f * 0.75f, 0.9f * 0.25f + 0.75f};
  for (int c = 0; c < 3; ++c) EXPECT_NEAR(y01[0][c][0][0].item<float>(), want[c], 1e-6);
  // [-1, 1] (the reference's space, A given in [0, 1]): the same image, mapped.
  auto op11 = dmgn::losses::physics_operators().make("haze", cfg, dmgn::models::InputRange::minus_one_one);
  EXPECT_TRUE(torch::allclose(op11->apply(x01 * 2 - 1, batch), y01 * 2 - 1, 1e-6, 1e-6));
  // "auto" follows the task; rain is refused with the reason.
  EXPECT_EQ(dmgn::losses::physics_operators().make("auto", cfg, dmgn::models::InputRange::zero_one)->name(), "haze");
  const auto err = dmgn::testing::error_of<dmgn::ConfigError>(
      [&] { dmgn::losses::physics_operators().make("rain", cfg, dmgn::models::InputRange::zero_one); });
  EXPECT_NE(err.find("publishes no"), std::string::npos) << err;
  EXPECT_EQ(dmgn::losses::physics_operators().make("none", cfg, dmgn::models::InputRange::zero_one), nullptr);
}

TEST_F(PhysicsGan, BicubicResamplingFollowsBothConventions) {
  using dmgn::data::BicubicConvention;
  torch::manual_seed(1);
  const auto x = torch::rand({1, 2, 16, 12}, torch::kFloat64);
  // The reference: x4 down is decimation x[::4, ::4]; up samples at i/4 with Catmull-Rom.
  const auto down = dmgn::data::bicubic_resize(x, 4, 3, BicubicConvention::reference);
  using torch::indexing::Slice;
  EXPECT_TRUE(torch::equal(down, x.index({Slice(), Slice(), Slice(0, 16, 4), Slice(0, 12, 4)})));
  const auto up = dmgn::data::bicubic_resize(down, 16, 12, BicubicConvention::reference);
  EXPECT_EQ(up.sizes(), x.sizes());
  EXPECT_TRUE(torch::equal(up.index({Slice(), Slice(), Slice(0, 16, 4), Slice(0, 12, 4)}), down));  // t = 0 rows
  // Row 1 of the up-sampled 4-row column [a, b, c, d] at t = 1/4: Catmull-Rom weights of
  // (-1, 0, 1, 2) = (-0.0703125, 0.8671875, 0.2265625, -0.0234375), the -1 clamped onto a.
  const auto col = torch::tensor({1.0, 2.0, 4.0, 8.0}, torch::kFloat64).view({1, 1, 4, 1});
  const auto c_up = dmgn::data::bicubic_resize(col, 16, 1, BicubicConvention::reference);
  EXPECT_NEAR(c_up[0][0][1][0].item<double>(), -0.0703125 * 1 + 0.8671875 * 1 + 0.2265625 * 2 - 0.0234375 * 4, 1e-12);
  // MATLAB: weights sum to 1 (a constant stays constant), a linear ramp stays linear inside, and
  // the x4 shrink averages (anti-aliasing): the mean is kept.
  const auto ramp = torch::arange(32, torch::kFloat64).view({1, 1, 1, 32}).expand({1, 1, 4, 32}).contiguous();
  const auto m_down = dmgn::data::bicubic_resize(ramp, 4, 8, BicubicConvention::matlab);
  EXPECT_NEAR(m_down[0][0][0][3].item<double>(), 13.5, 1e-9);  // centre of source pixels 12..15
  const auto flat = torch::full({1, 1, 8, 8}, 0.7, torch::kFloat64);
  EXPECT_TRUE(torch::allclose(dmgn::data::bicubic_resize(flat, 32, 32, BicubicConvention::matlab),
                              torch::full({1, 1, 32, 32}, 0.7, torch::kFloat64)));
  EXPECT_NE(dmgn::testing::error_of<dmgn::ConfigError>([] { dmgn::data::bicubic_convention("cubic", "k"); })
                .find("reference, matlab"),
            std::string::npos);
}

TEST_F(PhysicsGan, SynthesesKeepWhatTheirOperatorsNeedAndAgreeWithThem) {
  dmgn::data::SynthInput in;
  in.background = random_image(32, 40, 7);
  dmgn::Rng rng(11);
  // Motion blur: the kernel is non-negative, sums to 1, and the operator reproduces I from B.
  const Config blur_cfg = pgan("deblur.toml", {"synth.blur_motion.kernel_size=9", "synth.blur_motion.length=[2.0, 7.0]"});
  const auto blur = dmgn::data::synths().make("blur_motion", blur_cfg);
  EXPECT_EQ(blur->task(), "blur");
  const auto b = blur->synthesize(in, rng);
  ASSERT_TRUE(b.extra.count("blur_kernel"));
  const cv::Mat& k = b.extra.at("blur_kernel");
  EXPECT_EQ(k.rows, 9);
  double mn = 0, mx = 0;
  cv::minMaxLoc(k, &mn, &mx);
  EXPECT_GE(mn, 0.0);
  EXPECT_NEAR(cv::sum(k)[0], 1.0, 1e-5);
  EXPECT_LT(mx, 0.9);  // spread along a trajectory, not a delta
  auto kt = torch::from_blob(const_cast<float*>(k.ptr<float>()), {1, 1, 9, 9}, torch::kFloat32).clone();
  auto op = dmgn::losses::physics_operators().make("blur", blur_cfg, dmgn::models::InputRange::minus_one_one);
  const auto bt = to_tensor(b.background) * 2 - 1, it = to_tensor(b.input) * 2 - 1;
  EXPECT_LT((op->apply(bt, {{"blur_kernel", kt}}) - it).abs().max().item<double>(), 1e-5);
  // noise = 0.5 + (I - B) / 2: in model space the residual.
  EXPECT_LT((to_tensor(b.noise) * 2 - 1 - (it - bt) / 2).abs().max().item<double>(), 1e-5);
  // Deterministic per seed, different across seeds.
  dmgn::Rng r1(5), r2(5), r3(6);
  EXPECT_TRUE(cv::norm(dmgn::data::motion_kernel({}, r1), dmgn::data::motion_kernel({}, r2)) == 0);
  EXPECT_GT(cv::norm(dmgn::data::motion_kernel({}, r1), dmgn::data::motion_kernel({}, r3)), 0);
  // SR: I = up(down(B)) and the operator gives the same.
  const Config sr_cfg = pgan("sr.toml");
  const auto sr = dmgn::data::synths().make("sr_bicubic", sr_cfg);
  const auto s = sr->synthesize(in, rng);
  auto sop = dmgn::losses::physics_operators().make("auto", sr_cfg, dmgn::models::InputRange::zero_one);
  EXPECT_EQ(sop->name(), "sr_bicubic");
  EXPECT_LT((sop->apply(to_tensor(s.background), {}).clamp(0, 1) - to_tensor(s.input)).abs().max().item<double>(), 1e-5);
  in.background = random_image(30, 40, 7);
  const auto err = dmgn::testing::error_of<dmgn::DataError>([&] { sr->synthesize(in, rng); });
  EXPECT_NE(err.find("multiple of the scale 4"), std::string::npos) << err;
  // Haze (existing synthesis): t and A are kept, and J t + A (1 - t) gives I back.
  in.background = random_image(32, 40, 9);
  const auto h = dmgn::data::synths().make("haze", pgan())->synthesize(in, rng);
  ASSERT_TRUE(h.extra.count("transmission") && h.extra.count("airlight"));
  const auto& t = h.extra.at("transmission");
  const cv::Vec3f a = h.extra.at("airlight").at<cv::Vec3f>(0, 0);
  double worst = 0;
  for (int y = 0; y < 32; ++y)
    for (int x = 0; x < 40; ++x)
      for (int c = 0; c < 3; ++c) {
        const double tx = t.at<float>(y, x);
        const double want = h.background.at<cv::Vec3f>(y, x)[c] * tx + a[c] * (1 - tx);
        worst = std::max(worst, std::abs(want - h.input.at<cv::Vec3f>(y, x)[c]));
      }
  EXPECT_LT(worst, 1e-5);
}

TEST_F(PhysicsGan, GradientsReachTheGeneratorThroughEveryOperator) {
  const Config cfg = pgan("sr.toml", {"model.ngf=4", "model.blocks=1"});
  auto g = build(cfg);
  const auto y = torch::rand({2, 3, 16, 16}) * 2 - 1;
  auto k = torch::rand({2, 1, 5, 5});
  const std::map<std::string, torch::Tensor> batch{{"blur_kernel", k / k.sum({2, 3}, true)},
                                                   {"transmission", torch::rand({2, 1, 16, 16})},
                                                   {"airlight", torch::rand({2, 3, 1, 1})}};
  for (const char* name : {"blur", "haze", "sr_bicubic"}) {
    auto op = dmgn::losses::physics_operators().make(name, cfg, dmgn::models::InputRange::minus_one_one);
    g->zero_grad();
    const auto y_tilde = op->apply(g->generate(y), batch);
    (y_tilde - y).abs().mean().backward();  // L_p
    double total = 0;
    for (const auto& p : g->parameters()) {
      ASSERT_TRUE(p.grad().defined()) << name;
      total += p.grad().abs().sum().item<double>();
    }
    EXPECT_GT(total, 0) << name;
    // The first conv (farthest from the loss) gets a gradient too.
    EXPECT_GT(g->named_parameters()["model.1.weight"].grad().abs().sum().item<double>(), 0) << name;
  }
}

TEST_F(PhysicsGan, ThePoolReturnsItsInputUntilFullThenHalfFromHistory) {
  torch::manual_seed(0);
  dmgn::train::ImagePool pool(4, std::vector<int64_t>{1, 1, 1});
  const auto img = [](float v) { return torch::full({1, 1, 1, 1}, v); };
  // Filling: every image comes back as it is and is stored.
  for (int i = 0; i < 4; ++i) EXPECT_EQ(pool->query(img(static_cast<float>(i))).item<float>(), i);
  EXPECT_EQ(pool->size(), 4);
  // Full: each query returns the new image or a stored one that it then replaces; the stored
  // values always stay a multiset of everything seen, and about half the answers are old.
  int old = 0;
  std::multiset<float> seen{0, 1, 2, 3};
  const int n = 2000;
  for (int i = 4; i < 4 + n; ++i) {
    const float v = static_cast<float>(i);
    const float got = pool->query(img(v)).item<float>();
    if (got != v) {
      ++old;
      ASSERT_TRUE(seen.count(got)) << got;
      seen.erase(seen.find(got));
      seen.insert(v);
    }
  }
  EXPECT_NEAR(static_cast<double>(old) / n, 0.5, 0.05);
  const auto stored = pool->named_buffers()["images"].flatten();
  std::multiset<float> in_pool;
  for (int i = 0; i < 4; ++i) in_pool.insert(stored[i].item<float>());
  EXPECT_EQ(in_pool, seen);
  // A batch is answered image by image; a capacity of 0 passes batches through.
  const auto batch = torch::rand({3, 1, 1, 1});
  EXPECT_EQ(pool->query(batch).sizes(), batch.sizes());
  dmgn::train::ImagePool none(0, std::vector<int64_t>{1, 1, 1});
  EXPECT_TRUE(torch::equal(none->query(batch), batch));
  // Same seed, same answers (the draws come from the generator that checkpoints save).
  const auto replay = [&] {
    torch::manual_seed(42);
    dmgn::train::ImagePool p(2, std::vector<int64_t>{1, 1, 1});
    std::vector<float> out;
    for (int i = 0; i < 50; ++i) out.push_back(p->query(img(static_cast<float>(i))).item<float>());
    return out;
  };
  EXPECT_EQ(replay(), replay());
  const auto err = dmgn::testing::error_of<dmgn::DataError>([&] { pool->query(torch::rand({1, 1, 2, 2})); });
  EXPECT_NE(err.find("image pool"), std::string::npos);
}

// Scores a fixed function of the image: D(b) = sum over channels.
class SumDisc : public dmgn::nn::Discriminator {
 public:
  torch::Tensor forward(const torch::Tensor& b, const torch::Tensor&) override { return b.sum(1, true); }
};

TEST_F(PhysicsGan, LsganTargetsAreOneForRealAndZeroForFake) {
  const Config cfg = pgan();
  auto adv = dmgn::losses::adversarial_loss("adversarial", cfg, {nullptr, dmgn::models::InputRange::minus_one_one});
  SumDisc d;
  const auto fake = torch::tensor({0.1f, 0.2f, 0.3f, -0.1f, 0.0f, 0.4f}).view({2, 3, 1, 1});  // D = 0.6, 0.3
  const auto real = torch::tensor({0.5f, 0.5f, 0.2f, 0.3f, 0.3f, 0.3f}).view({2, 3, 1, 1});   // D = 1.2, 0.9
  // G: mean (D(fake) - 1)^2; D: 1/2 [mean (D(real) - 1)^2 + mean D(fake)^2] (CycleGAN's GANLoss
  // with MSE against 1 and 0, averaged as backward_D_basic does).
  EXPECT_NEAR(adv->generator(d, fake, {}).item<double>(), (0.16 + 0.49) / 2, 1e-6);
  EXPECT_NEAR(adv->critic(d, fake, real, {}).item<double>(), 0.5 * ((0.04 + 0.01) / 2 + (0.36 + 0.09) / 2), 1e-6);
}

TEST_F(PhysicsGan, TheLinearScheduleHoldsThenDecaysToZero) {
  const Config cfg = pgan("base.toml", {"optim.decay_start=0.5"});
  dmgn::train::LrSchedule s(cfg, 200);
  EXPECT_EQ(s.factor(0), 1.0);
  EXPECT_EQ(s.factor(99), 1.0);
  EXPECT_EQ(s.factor(100), 1.0);
  EXPECT_NEAR(s.factor(150), 0.5, 1e-12);
  EXPECT_NEAR(s.factor(199), 0.01, 1e-12);
  EXPECT_EQ(s.factor(200), 0.0);
}

}  // namespace
