// Loss terms (Eq. 11-14) and the objective's composition (Eq. 15-17).
#include <gtest/gtest.h>

#include "core/config.h"
#include "losses/losses.h"
#include "losses/ssim_loss.h"
#include "metrics/psnr_ssim.h"
#include "models/model.h"
#include "nn/vgg.h"
#include "test_util.h"
#include "train/builtins.h"
#include "losses/terms.h"

namespace {

using dmgn::Config;

// A linear critic D(b, i) = sum(w * b) per sample: its gradient wrt b is w everywhere.
class LinearCritic : public dmgn::nn::Discriminator {
 public:
  explicit LinearCritic(torch::Tensor w) : w_(register_parameter("w", std::move(w))) {}
  torch::Tensor forward(const torch::Tensor& b, const torch::Tensor&) override {
    return (b * w_).flatten(1).sum(1);
  }
  torch::Tensor w_;
};

TEST(Losses, PixelLossesMatchTheirDefinitions) {
  dmgn::register_builtins();
  const Config cfg = Config::defaults(dmgn::testing::tiny_model());
  dmgn::nn::Vgg19 vgg;
  dmgn::losses::LossContext ctx{vgg, dmgn::models::InputRange::minus_one_one};
  auto l1 = dmgn::losses::pixel_loss("l1", cfg, ctx);
  auto a = torch::zeros({1, 3, 4, 4}), b = torch::full({1, 3, 4, 4}, 0.25);
  EXPECT_NEAR((*l1)(a, b).item<double>(), 0.25, 1e-7);  // Eq. 11: mean |Y - Y_gt|
  auto p = dmgn::losses::pixel_loss("perceptual", cfg, ctx);
  auto y = torch::rand({2, 3, 16, 16}) * 2 - 1;
  EXPECT_EQ((*p)(y, y).item<double>(), 0.0);
  EXPECT_GT((*p)(y, y.flip(3)).item<double>(), 0.0);
  // Weight of the single tap scales the loss linearly (Eq. 12).
  auto o = dmgn::testing::tiny_model();
  o.push_back("loss.perceptual.weights=[3.0]");
  auto p3 = dmgn::losses::pixel_loss("perceptual", Config::defaults(o), ctx);
  EXPECT_NEAR((*p3)(y, y.flip(3)).item<double>(), 3 * (*p)(y, y.flip(3)).item<double>(), 1e-5);
  // The generator gets gradients through the VGG although the VGG itself stays frozen.
  auto yg = y.clone().requires_grad_(true);
  (*p)(yg, y.flip(3)).backward();
  EXPECT_GT(yg.grad().abs().sum().item<double>(), 0.0);
  for (const auto& w : vgg->parameters()) EXPECT_FALSE(w.grad().defined());
  // A pixel loss cannot be used as the adversarial one and vice versa.
  EXPECT_THROW(dmgn::losses::adversarial_loss("l1", cfg, ctx), dmgn::RegistryError);
  EXPECT_THROW(dmgn::losses::pixel_loss("adversarial", cfg, ctx), dmgn::RegistryError);
}

TEST(Losses, SsimLossMatchesTheMetricAndHasGradients) {
  dmgn::register_builtins();
  // A config whose loss terms name "ssim" carries [loss.ssim] (its schema fragment).
  auto o = dmgn::testing::tiny_model();
  for (const char* kv : {"loss.terms.ssim_r.loss=\"ssim\"", "loss.terms.ssim_r.output=\"background\"",
                         "loss.terms.ssim_r.target=\"background\"", "loss.terms.ssim_r.weight=0.84"})
    o.push_back(kv);
  const Config cfg = Config::defaults(o);
  EXPECT_EQ(cfg.get_string("loss.ssim.window"), "gaussian");
  EXPECT_EQ(cfg.get_int("loss.ssim.window_size"), 11);
  dmgn::nn::Vgg19 vgg{nullptr};
  dmgn::losses::LossContext ctx{vgg, dmgn::models::InputRange::minus_one_one};
  auto loss = dmgn::losses::pixel_loss("ssim", cfg, ctx);
  torch::manual_seed(3);
  const auto gt = torch::rand({2, 3, 24, 20}, torch::kFloat64);
  const auto out = (gt + 0.1 * torch::randn_like(gt)).clamp(0, 1);
  // Against the metric's own SSIM (tested against scikit-image): the same window, data range 1,
  // population covariance, valid boundary, no quantisation.
  for (const auto window : {dmgn::metrics::Spec::Window::gaussian, dmgn::metrics::Spec::Window::uniform}) {
    dmgn::metrics::Spec spec;
    spec.data_range = 1.0;
    spec.window = window;
    spec.window_size = window == dmgn::metrics::Spec::Window::gaussian ? 11 : 7;
    dmgn::losses::SsimWindow w;
    w.gaussian = window == dmgn::metrics::Spec::Window::gaussian;
    w.size = spec.window_size;
    const double want = (dmgn::metrics::ssim(out[0], gt[0], spec) + dmgn::metrics::ssim(out[1], gt[1], spec)) / 2;
    EXPECT_NEAR(dmgn::losses::ssim_mean(out, gt, w).item<double>(), want, 1e-9) << w.size;
  }
  // In model space [-1, 1]: 1 - SSIM of the images mapped to [0, 1]; 0 for identical images.
  const auto m_out = out * 2 - 1, m_gt = gt * 2 - 1;
  EXPECT_NEAR((*loss)(m_out, m_gt).item<double>(), 1 - dmgn::losses::ssim_mean(out, gt, {}).item<double>(), 1e-12);
  EXPECT_NEAR((*loss)(m_gt, m_gt).item<double>(), 0.0, 1e-12);
  // Differentiable: the gradient matches central differences (float64) at a few pixels.
  const auto x = torch::rand({1, 2, 12, 12}, torch::kFloat64).requires_grad_(true);
  const auto y = torch::rand({1, 2, 12, 12}, torch::kFloat64);
  dmgn::losses::ssim_mean(x, y, {}).backward();
  for (const int64_t at : {0, 77, 150, 287}) {
    auto xp = x.detach().clone(), xm = x.detach().clone();
    xp.view(-1)[at] += 1e-6;
    xm.view(-1)[at] -= 1e-6;
    const double fd = (dmgn::losses::ssim_mean(xp, y, {}).item<double>() - dmgn::losses::ssim_mean(xm, y, {}).item<double>()) / 2e-6;
    EXPECT_NEAR(x.grad().view(-1)[at].item<double>(), fd, 1e-7) << at;
  }
  // Bad settings and images too small for the window are named.
  auto bad = o;
  bad.push_back("loss.ssim.window_size=8");
  EXPECT_THROW(dmgn::losses::pixel_loss("ssim", Config::defaults(bad), ctx), dmgn::ConfigError);
  EXPECT_THROW(dmgn::losses::ssim_mean(torch::rand({1, 3, 8, 8}), torch::rand({1, 3, 8, 8}), {}), dmgn::Error);
}

TEST(Losses, CriticFormAndLipschitzConstraints) {
  dmgn::register_builtins();
  dmgn::nn::Vgg19 vgg;
  dmgn::losses::LossContext ctx{vgg, dmgn::models::InputRange::minus_one_one};
  auto w = torch::full({1, 3, 2, 2}, 0.5);  // |grad| = sqrt(12 * 0.25) = sqrt(3)
  LinearCritic d(w.clone());
  auto real = torch::rand({3, 3, 2, 2}), fake = torch::rand({3, 3, 2, 2}), in = torch::rand({3, 3, 2, 2});
  const double d_real = d.forward(real, in).mean().item<double>();
  const double d_fake = d.forward(fake, in).mean().item<double>();

  auto none = dmgn::losses::adversarial_loss("adversarial", Config::defaults({"loss.adversarial.lipschitz=none"}), ctx);
  EXPECT_NEAR(none->generator(d, fake, in).item<double>(), -d_fake, 1e-6);           // Eq. 13
  EXPECT_NEAR(none->critic(d, fake, real, in).item<double>(), -d_real + d_fake, 1e-6);  // Eq. 14

  auto gp = dmgn::losses::adversarial_loss("adversarial", Config::defaults({"loss.adversarial.gp_weight=2"}), ctx);
  const double penalty = 2 * std::pow(std::sqrt(3.0) - 1, 2);
  EXPECT_NEAR(gp->critic(d, fake, real, in).item<double>(), -d_real + d_fake + penalty, 1e-5);

  auto clip = dmgn::losses::adversarial_loss(
      "adversarial", Config::defaults({"loss.adversarial.lipschitz=clip", "loss.adversarial.clip=0.1"}), ctx);
  clip->constrain(d);
  EXPECT_NEAR(d.w_.max().item<double>(), 0.1, 1e-7);
  gp->constrain(d);  // no-op for gp
  EXPECT_NEAR(d.w_.max().item<double>(), 0.1, 1e-7);
  EXPECT_THROW(dmgn::losses::adversarial_loss("adversarial", Config::defaults({"loss.adversarial.lipschitz=foo"}), ctx),
               dmgn::ConfigError);
}

TEST(Losses, ObjectiveComposesThePhases) {
  dmgn::register_builtins();
  auto terms_of = [](std::vector<std::string> extra) {
    auto o = dmgn::testing::tiny_model();
    o.insert(o.end(), extra.begin(), extra.end());
    const Config cfg = Config::defaults(o);
    auto model = dmgn::models::build_model(cfg);
    dmgn::losses::TermSet set(cfg, *model);
    auto x = torch::rand({2, 3, 16, 16}) * 2 - 1;
    const dmgn::losses::NamedTensors b{{"input", x}, {"background", x * 0.5}, {"noise", x * 0.1}};
    auto out = model->forward(x);
    LinearCritic d(torch::full({1, 3, 16, 16}, 0.01));
    std::map<std::string, dmgn::nn::Discriminator*> discs;
    for (const auto& n : set.discriminators()) discs[n] = &d;
    const auto lt = set.evaluate("generator", out, b, discs);
    std::vector<std::string> names;
    double sum = 0;
    for (const auto& [n, t] : lt.terms) {
      names.push_back(n);
      sum += t.item<double>();
    }
    EXPECT_NEAR(lt.total.item<double>(), sum, 1e-5);  // Eq. 17: L = L^r + L^c
    return names;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(terms_of({}), (V{"l1_r", "p_r", "adv_r", "l1_c", "p_c", "l1_n", "p_n"}));
  EXPECT_EQ(terms_of({"loss.terms.adv_r.weight=0"}), (V{"l1_r", "p_r", "l1_c", "p_c", "l1_n", "p_n"}));
  EXPECT_EQ(terms_of({"loss.terms.p_r.weight=0", "loss.terms.p_c.weight=0", "loss.terms.p_n.weight=0"}),
            (V{"l1_r", "adv_r", "l1_c", "l1_n"}));
  EXPECT_EQ(terms_of({"model.refine.enabled=false"}), (V{"l1_c", "p_c", "l1_n", "p_n"}));  // Coarse: no B
  EXPECT_EQ(terms_of({"model.noise_branch=false", "model.refine.sources=[\"coarse\", \"fb\"]",
                      "model.refine.ndm.enabled=false", "model.refine.aca=false"}),
            (V{"l1_r", "p_r", "adv_r", "l1_c", "p_c"}));  // no G_r: no R to supervise
  // The order of the sum follows `order`, then the name.
  EXPECT_EQ(terms_of({"loss.terms.l1_c.order=0"}), (V{"l1_c", "l1_r", "p_r", "adv_r", "p_c", "l1_n", "p_n"}));
}

TEST(Losses, TermsFromConfigAreCheckedByName) {
  dmgn::register_builtins();
  auto build = [](std::vector<std::string> extra) {
    auto o = dmgn::testing::tiny_model();
    o.insert(o.end(), extra.begin(), extra.end());
    const Config cfg = Config::defaults(o);
    auto model = dmgn::models::build_model(cfg);
    dmgn::losses::TermSet set(cfg, *model);
  };
  // A new term in a config: its own table, the template's defaults for the rest.
  EXPECT_NO_THROW(build({"loss.terms.extra.loss=\"l1\"", "loss.terms.extra.output=\"coarse\"",
                         "loss.terms.extra.target=\"background\"", "loss.terms.extra.weight=0.3"}));
  // An output the model lacks, a loss that is not registered, a negative weight: named.
  const auto lacking = dmgn::testing::error_of<dmgn::ConfigError>([&] {
    build({"loss.terms.extra.loss=\"l1\"", "loss.terms.extra.output=\"transmission\"",
           "loss.terms.extra.target=\"background\"", "loss.terms.extra.weight=1"});
  });
  EXPECT_NE(lacking.find("'loss.terms.extra.output'"), std::string::npos) << lacking;
  EXPECT_NE(lacking.find("no output 'transmission'"), std::string::npos) << lacking;
  EXPECT_NE(lacking.find("coarse"), std::string::npos) << lacking;  // lists what it declares
  EXPECT_THROW(build({"loss.terms.l1_c.loss=\"l2\""}), dmgn::ConfigError);
  EXPECT_THROW(build({"loss.terms.l1_c.weight=-1"}), dmgn::ConfigError);
  // Every weight 0: nothing to train.
  EXPECT_THROW(build({"loss.terms.l1_r.weight=0", "loss.terms.p_r.weight=0", "loss.terms.adv_r.weight=0",
                      "loss.terms.l1_c.weight=0", "loss.terms.p_c.weight=0", "loss.terms.l1_n.weight=0",
                      "loss.terms.p_n.weight=0"}),
               dmgn::ConfigError);
}

}  // namespace
