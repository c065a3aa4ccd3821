// ERRNet (framework/systems/errnet/): the reference networks' parameter counts and names, the
// forward at a tiny width, the smallest input, the importer, the losses against hand-computed
// values, and a few training steps through the errnet recipe with disc_vgg and RaSGAN after its warm-up.
#include <gtest/gtest.h>

#include <cmath>

#include "core/config.h"
#include "core/error.h"
#include "losses/losses.h"
#include "models/model.h"
#include "nn/discriminators.h"
#include "nn/layers.h"
#include "process_test.h"
#include "store/run_store.h"
#include "systems/errnet/disc_vgg.h"
#include "systems/errnet/drnet.h"
#include "systems/errnet/errnet.h"
#include "systems/errnet/register.h"
#include "test_util.h"
#include "train/trainer.h"

using dmgn::Config;

namespace {

const std::string kErrnetDir = std::string(DMGN_SOURCE_DIR) + "/experiments/errnet/";

// Registered here as well: the test does not depend on the line in systems/systems.cpp
// (registering twice replaces the same entries).
class ErrNet : public dmgn::testing::ProcessTest {
 protected:
  void SetUp() override {
    ProcessTest::SetUp();
    dmgn::systems::register_errnet();
  }
};

Config errnet_config(const std::string& file = "base.toml", std::vector<std::string> sets = {}) {
  return Config::load(kErrnetDir + file, sets);
}

std::shared_ptr<dmgn::models::ErrNet> build_errnet(const Config& cfg, uint64_t seed = 0) {
  torch::manual_seed(seed);
  auto m = std::dynamic_pointer_cast<dmgn::models::ErrNet>(dmgn::models::build_model(cfg));
  EXPECT_TRUE(m);
  return m;
}

// A tiny ERRNet: the reference's structure (13 -> 2 blocks, 256 -> 16 channels), hypercolumn on
// (random VGG-19).
const std::vector<std::string> kErrnetTiny{"model.n_feats=16", "model.resblocks=2"};

TEST_F(ErrNet, TheReferenceNetworksHaveTheirParameterCounts) {
  // DRNet at the defaults (1475 input channels), by hand:
  //   conv1 1x1 1475 -> 256: 377,600 + 256 = 377,856; conv2, conv3 3x3: 589,824 + 256 = 590,080 each
  //   13 blocks x (2 x 590,080 + SE 256*32 + 32 + 32*256 + 256 = 16,672) = 13 x 1,196,832 = 15,558,816
  //   deconv1 4x4: 256*256*16 + 256 = 1,048,832; deconv2 590,080
  //   pyramid: 4 x 256*64 (no bias) + bottleneck 512*256 + 256 = 65,536 + 131,328 = 196,864
  //   deconv3 1x1 256 -> 3: 771
  //   total 18,953,379: the count the reference's networks.print_network prints.
  EXPECT_EQ(dmgn::nn::count_parameters(*dmgn::models::errnet::DrNet(dmgn::models::errnet::DrNetOptions{})).total,
            18953379);
  const auto m = build_errnet(errnet_config());
  const auto pc = dmgn::nn::count_parameters(*m);
  EXPECT_EQ(pc.trainable, 18953379);
  EXPECT_EQ(pc.total, 18953379 + 20024384);  // + VGG-19's 16 convs, frozen
  ASSERT_EQ(m->parameter_sections().size(), 2u);
  EXPECT_EQ(m->parameter_sections()[0].second, 18953379);
  // The reference's state_dict names at the top level, the VGG-19 under "vgg.<features index>".
  auto p = m->named_parameters();
  const std::vector<std::pair<std::string, std::vector<int64_t>>> names{
      {"conv1.conv2d.weight", {256, 1475, 1, 1}},
      {"conv3.conv2d.bias", {256}},
      {"res_module.12.conv2.conv2d.weight", {256, 256, 3, 3}},
      {"res_module.0.se_layer.fc.0.weight", {32, 256}},
      {"res_module.0.se_layer.fc.2.bias", {256}},
      {"deconv1.conv2d.weight", {256, 256, 4, 4}},  // ConvTranspose2d: in x out x k x k
      {"pyramid_module.stages.3.1.weight", {64, 256, 1, 1}},
      {"pyramid_module.bottleneck.weight", {256, 512, 1, 1}},
      {"deconv3.conv2d.bias", {3}},
      {"vgg.0.weight", {64, 3, 3, 3}},
      {"vgg.34.weight", {512, 512, 3, 3}}};
  for (const auto& [name, shape] : names) {
    ASSERT_NE(p.find(name), nullptr) << name;
    EXPECT_EQ(p[name].sizes(), torch::IntArrayRef(shape)) << name;
  }
  EXPECT_EQ(p.find("pyramid_module.stages.0.1.bias"), nullptr);  // no bias on the stages' convs
  EXPECT_FALSE(p["vgg.0.weight"].requires_grad());
  // Without the hypercolumn conv1 sees 3 channels: 1472 x 256 weights fewer (the reference's
  // DRNet(3, 3, ...) count, tools/errnet_parity.py --no-hyper).
  EXPECT_EQ(dmgn::nn::count_parameters(*build_errnet(errnet_config("base.toml", {"model.hypercolumn=false"}))).trainable,
            18953379 - 1472 * 256);
  // Discriminator_VGG, by hand: convs 3->64 1,792; 64->64 36,928; 64->128 73,856; 128->128
  // 147,584; 128->256 295,168; 256->256 590,080; 256->512 1,180,160; 3 x 512->512 2,359,808
  // (9,404,992 in all); GroupNorm 2 x (64+128+128+256+256+512+512+512+512) = 5,760; tail
  // 512*1024 + 1024 + 1024 + 1 = 526,337: 9,937,089 (the reference's count).
  const dmgn::models::errnet::DiscVgg d(64);
  EXPECT_EQ(dmgn::nn::count_parameters(d).total, 9937089);
  auto dp = d.named_parameters();
  EXPECT_EQ(dp["body.3.weight"].sizes(), torch::IntArrayRef({64}));  // the first GroupNorm
  EXPECT_EQ(dp["body.26.weight"].sizes(), torch::IntArrayRef({512, 512, 3, 3}));
  EXPECT_EQ(dp["tail.1.weight"].sizes(), torch::IntArrayRef({1024, 512, 1, 1}));
  EXPECT_EQ(dp["tail.3.bias"].sizes(), torch::IntArrayRef({1}));
}

TEST_F(ErrNet, ForwardKeepsTheSizeAndFeedsTheHypercolumn) {
  const auto m = build_errnet(errnet_config("base.toml", kErrnetTiny));
  EXPECT_EQ(m->spec().input_range, dmgn::models::InputRange::zero_one);
  EXPECT_EQ(m->spec().size_multiple, 2);
  ASSERT_TRUE(m->spec().declares("background"));
  EXPECT_EQ(m->spec().find("background")->reference, "output_i");
  ASSERT_TRUE(m->shared_vgg());
  EXPECT_EQ(m->shared_vgg()->weights_key(), "model.vgg_weights");
  torch::manual_seed(1);
  const auto x = torch::rand({2, 3, 64, 48});
  {
    torch::NoGradGuard ng;
    EXPECT_EQ(m->network_input(x).sizes(), torch::IntArrayRef({2, 1475, 64, 48}));
    EXPECT_TRUE(torch::equal(m->network_input(x).narrow(1, 0, 3), x));  // the image first
  }
  const auto y = m->forward(x).at("background");
  EXPECT_EQ(y.sizes(), x.sizes());
  EXPECT_GE(y.min().item<double>(), 0.0);  // deconv3's ReLU
  // Gradients reach DRNet, not the frozen VGG-19.
  y.sum().backward();
  auto p = m->named_parameters();
  EXPECT_TRUE(p["conv1.conv2d.weight"].grad().defined());
  EXPECT_TRUE(p["deconv3.conv2d.bias"].grad().defined());
  EXPECT_FALSE(p["vgg.0.weight"].grad().defined());
  // The paper's ablation: the image alone.
  const auto plain = build_errnet(errnet_config("base.toml", {"model.n_feats=16", "model.resblocks=1", "model.hypercolumn=false"}));
  torch::NoGradGuard ng;
  EXPECT_TRUE(torch::equal(plain->network_input(x), x));
  EXPECT_EQ(plain->forward(x).at("background").sizes(), x.sizes());
}

TEST_F(ErrNet, TheSmallestInputIsEvenAnd32PxWithThePyramid) {
  const Config cfg = errnet_config("base.toml", kErrnetTiny);
  const auto r = dmgn::models::input_requirement(cfg);
  EXPECT_EQ(r.min_side, 32);
  EXPECT_EQ(r.multiple, 2);
  const auto small = r.refuses(30, 30);
  EXPECT_NE(small.find("smaller than the 32x32"), std::string::npos) << small;
  EXPECT_NE(small.find("AvgPool2d(32)"), std::string::npos) << small;
  for (const auto& [h, w] : std::vector<std::pair<int64_t, int64_t>>{{63, 64}, {64, 63}, {33, 33}}) {
    const auto odd = r.refuses(h, w);
    EXPECT_NE(odd.find("not a multiple of 2"), std::string::npos) << h << "x" << w << ": " << odd;
    EXPECT_NE(odd.find("2 * ceil(H/2)"), std::string::npos) << odd;
  }
  // The pyramid pools at full resolution (after deconv1), so every even side from 32 runs; the
  // reference's DRNet gives the same (30 fails in AvgPool2d(32), 62 and 32 keep their size).
  EXPECT_EQ(r.refuses(32, 32), "");
  EXPECT_EQ(r.refuses(62, 62), "");
  const auto m = build_errnet(cfg);
  torch::NoGradGuard ng;
  EXPECT_EQ(m->forward(torch::rand({1, 3, 32, 32})).at("background").sizes(), torch::IntArrayRef({1, 3, 32, 32}));
  EXPECT_ANY_THROW(m->forward(torch::rand({1, 3, 30, 30})));
  // An odd side runs but comes back one larger: hence the multiple of 2 for unpadded crops.
  EXPECT_EQ(m->forward(torch::rand({1, 3, 33, 34})).at("background").size(2), 34);
  // Without the pyramid: the hypercolumn's relu5_1 (4 poolings), else the stride-2 level alone.
  const auto no_pyramid = dmgn::models::input_requirement(errnet_config("base.toml", {"model.pyramid=false"}));
  EXPECT_EQ(no_pyramid.min_side, 16);
  EXPECT_NE(no_pyramid.why.find("4 2x2 poolings"), std::string::npos) << no_pyramid.why;
  EXPECT_EQ(dmgn::models::input_requirement(errnet_config("base.toml", {"model.pyramid=false", "model.hypercolumn=false"}))
                .min_side,
            2);
}

TEST_F(ErrNet, ConfigErrorsNameTheirKeys) {
  const auto odd_kernel = dmgn::testing::error_of<dmgn::ConfigError>(
      [] { dmgn::models::build_model(errnet_config("base.toml", {"model.bottom_kernel=2"})); });
  EXPECT_NE(odd_kernel.find("model.bottom_kernel"), std::string::npos) << odd_kernel;
  const auto se = dmgn::testing::error_of<dmgn::ConfigError>(
      [] { dmgn::models::build_model(errnet_config("base.toml", {"model.n_feats=8", "model.se_reduction=16"})); });
  EXPECT_NE(se.find("model.se_reduction"), std::string::npos) << se;
}

TEST_F(ErrNet, ImportsReferenceStateDictsByNameWithOrWithoutTheVgg) {
  const Config cfg = errnet_config("base.toml", {"model.n_feats=8", "model.resblocks=1"});
  const auto a = build_errnet(cfg, 1);
  // As tools/errnet_parity.py writes it (our names), with the reference's VGG prefix and a
  // DataParallel "module." on some tensors.
  std::map<std::string, torch::Tensor> full, net_only;
  int64_t n_net = 0;
  for (const auto& item : a->named_parameters()) {
    const std::string& k = item.key();
    if (k.rfind("vgg.", 0) == 0) {
      full["vgg_pretrained_features." + k.substr(4)] = item.value().detach().clone();
    } else {
      full["module." + k] = item.value().detach().clone();
      net_only[k] = item.value().detach().clone();
      ++n_net;
    }
  }
  const auto b = build_errnet(cfg, 2);
  EXPECT_EQ(b->import_reference(full, "full.pth"), static_cast<int64_t>(full.size()));
  auto pa = a->named_parameters();
  for (const auto& item : b->named_parameters()) EXPECT_TRUE(torch::equal(item.value(), pa[item.key()])) << item.key();
  // DRNet alone (a released checkpoint's 'icnn'): our VGG-19 stays as it was.
  const auto c = build_errnet(cfg, 3);
  const auto vgg_before = c->named_parameters()["vgg.0.weight"].clone();
  EXPECT_EQ(c->import_reference(net_only, "icnn.pth"), n_net);
  EXPECT_TRUE(torch::equal(c->named_parameters()["conv1.conv2d.weight"], pa["conv1.conv2d.weight"]));
  EXPECT_TRUE(torch::equal(c->named_parameters()["vgg.0.weight"], vgg_before));
  // A tensor of another shape is named.
  auto bad = net_only;
  bad["deconv3.conv2d.bias"] = torch::zeros({4});
  const auto err = dmgn::testing::error_of<dmgn::DataError>([&] { c->import_reference(bad, "bad.pth"); });
  EXPECT_NE(err.find("deconv3.conv2d.bias"), std::string::npos) << err;
}

TEST_F(ErrNet, PixelLossesMatchHandComputations) {
  const Config cfg = errnet_config();
  const dmgn::losses::LossContext ctx;
  auto mse = dmgn::losses::pixel_loss("mse", cfg, ctx);
  auto grad = dmgn::losses::pixel_loss("gradient", cfg, ctx);
  // y = [[0, 1], [3, 5]], target 0: MSE (0 + 1 + 9 + 25) / 4 = 8.75. Differences along H:
  // (3, 4), mean 3.5; along W: (1, 2), mean 1.5; GradientLoss = 3.5 + 1.5 = 5.
  const auto y = torch::tensor({0.0f, 1.0f, 3.0f, 5.0f}).view({1, 1, 2, 2});
  const auto zero = torch::zeros_like(y);
  EXPECT_NEAR((*mse)(y, zero).item<double>(), 8.75, 1e-6);
  EXPECT_NEAR((*grad)(y, zero).item<double>(), 5.0, 1e-6);
  // Only the differences count: a constant offset costs nothing, one per channel likewise.
  EXPECT_NEAR((*grad)(y + 7.0, y).item<double>(), 0.0, 1e-6);
  // Against a target: |(3,4) - (1,1)| mean 2.5, |(1,2) - (1,1)| mean 0.5.
  const auto t = torch::tensor({0.0f, 1.0f, 1.0f, 2.0f}).view({1, 1, 2, 2});
  EXPECT_NEAR((*grad)(y, t).item<double>(), 3.0, 1e-6);
}

// A critic whose score is the image's mean, w * mean(x), w = 1 (a parameter, for gradients).
class ErrnetMeanCritic : public dmgn::nn::Discriminator {
 public:
  ErrnetMeanCritic() { w = register_parameter("w", torch::ones({1})); }
  torch::Tensor forward(const torch::Tensor& b, const torch::Tensor&) override {
    return (b.mean({1, 2, 3}) * w).view({-1, 1, 1, 1});
  }
  torch::Tensor w;
};

TEST_F(ErrNet, RaSganMatchesTheHandComputation) {
  const Config cfg = errnet_config();
  auto gan = dmgn::losses::adversarial_loss("rasgan", cfg, dmgn::losses::LossContext{});
  ErrnetMeanCritic d;
  // Scores: real (1, 3), fake (0, 2); batch means 2 and 1. sp(x) = log(1 + e^x).
  const auto filled = [](std::vector<float> v) {
    auto t = torch::empty({static_cast<int64_t>(v.size()), 3, 4, 4});
    for (size_t n = 0; n < v.size(); ++n) t[static_cast<int64_t>(n)].fill_(v[n]);
    return t;
  };
  const auto real = filled({1.0f, 3.0f});
  const auto fake = filled({0.0f, 2.0f}).requires_grad_(true);
  const auto sp = [](double x) { return std::log1p(std::exp(x)); };
  // D: 1/2 [mean sp(-(r - 1)) + mean sp(f - 2)] = 1/2 [(sp(0) + sp(-2))/2 + (sp(-2) + sp(0))/2].
  const auto d_loss = gan->critic(d, fake, real, {});
  EXPECT_NEAR(d_loss.item<double>(), 0.5 * (sp(0.0) + sp(-2.0)), 1e-6);
  // G: 1/2 [mean sp(r - 1) + mean sp(-(f - 2))] = 1/2 [(sp(0) + sp(2))/2 + (sp(2) + sp(0))/2].
  const auto g_loss = gan->generator(d, fake, {}, real);
  EXPECT_NEAR(g_loss.item<double>(), 0.5 * (sp(0.0) + sp(2.0)), 1e-6);
  // The critic's loss does not reach the generator's output; the generator's does.
  d_loss.backward();
  EXPECT_FALSE(fake.grad().defined());
  EXPECT_TRUE(d.w.grad().defined());
  g_loss.backward();
  ASSERT_TRUE(fake.grad().defined());
  EXPECT_GT(fake.grad().abs().sum().item<double>(), 0.0);
  // Without the real sample the generator's side cannot be computed.
  EXPECT_THROW(gan->generator(d, fake, {}, {}), dmgn::Error);
}

TEST_F(ErrNet, DiscVggScoresEachImageAtAnySide) {
  dmgn::models::errnet::DiscVgg d(4);  // widths 4 .. 32, gcd(32, w) groups
  torch::NoGradGuard ng;
  EXPECT_EQ(d.forward(torch::rand({3, 3, 64, 64}), {}).sizes(), torch::IntArrayRef({3, 1, 1, 1}));
  EXPECT_EQ(d.forward(torch::rand({1, 3, 5, 7}), {}).sizes(), torch::IntArrayRef({1, 1, 1, 1}));
  const Config table = errnet_config().sub("discriminator");
  EXPECT_EQ(dmgn::nn::discriminator_min_side("disc_vgg", table).min_side, 1);
  EXPECT_EQ(errnet_config().get_string("discriminator.name"), "disc_vgg");
}

TEST_F(ErrNet, ShortTrainingRunLogsEveryTermAndTheCritic) {
  const auto dir = dmgn::testing::scratch("errnet_train");
  std::vector<std::string> o{"model.n_feats=8",
                             "model.resblocks=1",
                             "discriminator.ndf=4",
                             "data.crop=32",
                             "data.augment.short_side=[40, 48]",
                             "data.builtin.train_pairs=8",
                             "data.builtin.heldout_pairs=2",
                             "data.builtin.heldout_size=32",
                             "data.workers=0",
                             "train.val_every=0",
                             "train.checkpoint_every=0",
                             "train.batch_size=2",
                             "train.max_steps=4",
                             "errnet.gan_start_step=2",
                             "runtime.threads=1",
                             "runtime.progress=false",
                             "runtime.log_every=1"};
  o.push_back("runtime.store=\"" + (dir / "runs.sqlite").string() + "\"");
  o.push_back("runtime.out_dir=\"" + (dir / "runs").string() + "\"");
  const auto summary = dmgn::train::run_training(errnet_config("table2.toml", o));
  EXPECT_EQ(summary.steps, 4);
  dmgn::store::RunStore store(dir / "runs.sqlite");
  // The GAN term and its critic join at step 2 (0-based) of 4: two steps without them.
  for (const char* t : {"loss", "mse", "gradient", "vgg", "gan", "d_loss"}) {
    const auto ms = store.metrics(summary.run_id, "train", t);
    const bool adversarial = std::string(t) == "gan" || std::string(t) == "d_loss";
    EXPECT_EQ(ms.size(), adversarial ? 2u : 4u) << t;
    for (const auto& m : ms) {
      EXPECT_TRUE(std::isfinite(m.value)) << t;
      if (adversarial) EXPECT_GE(m.step, 3) << t << " logged before its warm-up ended";
    }
  }
  const auto runs = store.runs();
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].status, "completed");
  EXPECT_EQ(runs[0].experiment, "table2");
  EXPECT_EQ(runs[0].variant, "ERRNet");
  EXPECT_FALSE(store.metrics(summary.run_id, "test", "psnr").empty());
}

}  // namespace
