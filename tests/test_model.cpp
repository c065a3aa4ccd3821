// DMGN components and the composed model: shapes, RDMC masks, Eq. 10, the ACA sign, the
// official layout (parameter counts, MACs, state-dict names) and the Table I compositions.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include "core/compat.h"
#include "core/config.h"
#include "core/error.h"
#include "metrics/macs.h"
#include "models/model.h"
#include "systems/dmgn/official_import.h"
#include "nn/attention.h"
#include "nn/cells.h"
#include "nn/discriminators.h"
#include "nn/generators.h"
#include "nn/head.h"
#include "test_util.h"
#include "train/builtins.h"

namespace {

using dmgn::Config;
namespace nn = dmgn::nn;

Config tiny(std::vector<std::string> extra = {}) {
  auto o = dmgn::testing::tiny_model();
  o.insert(o.end(), extra.begin(), extra.end());
  return Config::defaults(o);
}

class Model : public ::testing::Test {
 protected:
  void SetUp() override {
    dmgn::register_builtins();
    torch::manual_seed(0);
  }
};

TEST_F(Model, ComponentShapes) {
  const Config cfg = tiny();
  const Config m = cfg.sub("model");
  auto x = torch::randn({2, 3, 20, 28});
  auto head = nn::heads().make("vgg_hypercolumn", m.sub("head"), 4);
  auto f = head->forward(x);
  EXPECT_EQ(f.sizes(), (std::vector<int64_t>{2, 4, 20, 28}));

  nn::SeparatorImpl sep(4);
  auto s = sep.forward(f);
  EXPECT_EQ(s.fb.sizes(), f.sizes());
  EXPECT_EQ(s.mask.sizes(), (std::vector<int64_t>{2, 1, 20, 28}));
  EXPECT_TRUE(torch::allclose(s.fb + s.fr, torch::relu(s.fb + s.fr)));  // out*A + out*(1-A) = out >= 0

  auto gen = nn::generators().make("encoder_decoder", m, {4});
  auto g = gen->forward(f);
  EXPECT_EQ(g.out.sizes(), (std::vector<int64_t>{2, 3, 20, 28}));
  EXPECT_EQ(g.masks.size(), 5u);  // 2 down + 1 bottleneck + 2 up cells
  EXPECT_EQ(g.masks[1].sizes(), (std::vector<int64_t>{2, 1, 10, 14}));

  nn::CellShape down{4, 1, true, false, 8};
  auto cell = nn::cells().make("rdmc", m, down);
  auto c = cell->forward(f);
  EXPECT_EQ(c.skip.sizes(), f.sizes());
  EXPECT_EQ(c.y.sizes(), (std::vector<int64_t>{2, 8, 10, 14}));

  auto refine = nn::generators().make("dilated_refine", m, {12});
  auto r = refine->forward(torch::randn({2, 12, 20, 28}), torch::rand({2, 1, 20, 28}));
  EXPECT_EQ(r.out.sizes(), (std::vector<int64_t>{2, 3, 20, 28}));
  EXPECT_EQ(r.masks.size(), 2u);
  EXPECT_LE(r.out.abs().max().item<double>(), 1.0);  // tanh output (reflection)

  nn::AcaImpl aca(4, 2, 5, 4, 1);
  EXPECT_EQ(aca.forward(f).sizes(), f.sizes());
  nn::NdmImpl ndm(4, nn::NdmNormalise::batch);
  auto a_r = ndm.forward(f, f * 0.5);
  EXPECT_EQ(a_r.sizes(), (std::vector<int64_t>{2, 1, 20, 28}));
  EXPECT_NEAR(a_r.max().item<double>(), 1.0, 1e-6);  // (max - mean)/(max - mean)
  EXPECT_NEAR(a_r.mean().item<double>(), 0.0, 1e-5);

  auto d = nn::discriminators().make("patchgan", cfg.sub("discriminator"));
  auto score = d->forward(torch::randn({2, 3, 32, 32}), torch::randn({2, 3, 32, 32}));
  EXPECT_EQ(score.size(0), 2);
  EXPECT_EQ(score.size(1), 1);
}

TEST_F(Model, RdmcMaskInUnitIntervalAndIdentityWhenMaskIsZero) {
  const Config m = tiny().sub("model");
  auto cell = std::make_shared<nn::RdmcCell>(nn::CellShape{6, 2, false, false});
  auto x = torch::randn({2, 6, 16, 16}) * 3;
  auto out = cell->forward(x);
  EXPECT_GE(out.mask.min().item<double>(), 0.0);
  EXPECT_LE(out.mask.max().item<double>(), 1.0);
  EXPECT_EQ(out.mask.size(1), 1);
  EXPECT_FALSE(torch::equal(out.y, x));
  // Drive the mask to 0: the cell must pass its input through unchanged (Eq. 5).
  {
    torch::NoGradGuard g;
    for (auto& item : cell->named_parameters())
      if (item.key() == "mask2.bias") item.value().fill_(-1e4);
  }
  auto closed = cell->forward(x);
  EXPECT_EQ(closed.mask.max().item<double>(), 0.0);
  EXPECT_TRUE(torch::equal(closed.y, x));
  // With a prior of zero the fused mask stays zero (Eq. 10).
  auto fused = cell->forward(x, torch::zeros({2, 1, 16, 16}), 0.4);
  EXPECT_TRUE(torch::equal(fused.y, x));
  // Plain cell: no mask, Y = H(X).
  nn::PlainCell plain(nn::CellShape{6, 1, false, false}, false);
  auto p = plain.forward(x);
  EXPECT_FALSE(p.mask.defined());
  EXPECT_GE(p.y.min().item<double>(), 0.0);  // ReLU output, no residual
}

TEST_F(Model, Eq10FusionMatchesHandComputedValues) {
  auto own = torch::full({1, 1, 2, 2}, 0.8), prior = torch::full({1, 1, 2, 2}, 0.2);
  // n = 1, 2, 3 with alpha 0.4, q 0.5: w = 0.4, 0.2, 0.1.
  EXPECT_NEAR(nn::fuse_mask(own, prior, 0.4)[0][0][0][0].item<double>(), 0.88 / 1.4, 1e-7);
  EXPECT_NEAR(nn::fuse_mask(own, prior, 0.2)[0][0][0][0].item<double>(), 0.84 / 1.2, 1e-7);
  EXPECT_NEAR(nn::fuse_mask(own, prior, 0.1)[0][0][0][0].item<double>(), 0.82 / 1.1, 1e-7);
  const Config m = tiny({"model.refine.dilations=[1,2,4,8,16,1]"}).sub("model");
  nn::DilatedRefine refine(m, {12});
  const double expected[] = {0.4, 0.2, 0.1, 0.05, 0.025, 0.0125};
  for (size_t n = 1; n <= 6; ++n) EXPECT_NEAR(refine.prior_weight(n), expected[n - 1], 1e-12);
  const Config other = tiny({"model.refine.ndm.alpha=0.5", "model.refine.ndm.q=0.25"}).sub("model");
  nn::DilatedRefine r2(other, {12});
  EXPECT_NEAR(r2.prior_weight(3), 0.5 * 0.0625, 1e-12);
  // Inside a cell: a prior-fused mask equals the hand formula on the cell's own mask.
  auto cell = std::make_shared<nn::RdmcCell>(nn::CellShape{4, 1, false, false});
  auto x = torch::randn({1, 4, 8, 8});
  auto a_b = torch::rand({1, 1, 8, 8});
  auto plain_out = cell->forward(x);
  auto fused_out = cell->forward(x, a_b, 0.2);
  EXPECT_TRUE(torch::allclose(fused_out.mask, (plain_out.mask + 0.2 * a_b) / 1.2, 1e-6, 1e-7));
}

TEST_F(Model, AcaSignNegatesTheNoiseCue) {
  nn::AcaImpl aca(8, 4, 5, 4, 1);
  auto x = torch::randn({2, 8, 16, 16});
  auto pos = aca.forward(x, 1.0), neg = aca.forward(x, -1.0);
  EXPECT_TRUE(torch::allclose(neg, -pos));
  // Channel weights are sigmoids in (0, 1): E_b keeps the sign of F_b, E_r flips F(R)'s (Eq. 6).
  EXPECT_TRUE((pos * x).ge(0).all().item<bool>());
  EXPECT_TRUE((neg * x).le(0).all().item<bool>());
  EXPECT_TRUE(pos.abs().le(x.abs() + 1e-7).all().item<bool>());
}

TEST_F(Model, HeadLowResTapsComputeTheSameFunctionGradientsAndMacs) {
  // relu1_1 (full size), relu2_1 (1/2), relu3_1 (1/4) and relu4_1 (1/8): the last two go through
  // low-resolution taps. An odd, non-square size checks the resize and the reflection border.
  const Config cfg = Config::defaults({"model.head.taps=[1, 6, 11, 20]"});
  auto holder = std::make_shared<nn::HypercolumnHead>(cfg.sub("model.head"), 8);
  auto& head = *holder;
  const auto x0 = torch::rand({2, 3, 40, 56}) * 2 - 1;
  const auto probe = torch::randn({2, 8, 40, 56});
  struct Result {
    torch::Tensor y, dx, dw, db;
    uint64_t macs;
  };
  auto run = [&](bool taps) {
    head.use_low_res_taps(taps ? nn::Head::Taps::always : nn::Head::Taps::never);
    head.zero_grad();
    auto x = x0.clone().requires_grad_(true);
    dmgn::metrics::MacCounter macs;
    auto y = head.forward(x);
    (y * probe).sum().backward();
    const auto& conv1 = *head.named_modules()["conv1"]->as<nn::ConvImpl>();
    return Result{y.detach(), x.grad(), conv1.weight.grad().clone(), conv1.bias.grad().clone(), macs.total()};
  };
  const Result direct = run(false), tapped = run(true);
  auto rel = [](const torch::Tensor& a, const torch::Tensor& b) {
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-12)).item<double>();
  };
  EXPECT_LT(rel(tapped.y, direct.y), 1e-5);
  EXPECT_LT(rel(tapped.dx, direct.dx), 1e-5);
  EXPECT_LT(rel(tapped.dw, direct.dw), 1e-5);
  EXPECT_LT(rel(tapped.db, direct.db), 1e-5);
  EXPECT_EQ(tapped.macs, direct.macs);  // the architecture's count either way
  EXPECT_GT(direct.y.abs().max().item<double>(), 0.0);
}

TEST_F(Model, NdmNormalisationRunsInFp32ForBf16Maps) {
  // A nearly constant map (what the NDM's sigmoid gives after a few bf16 training steps): 1020
  // values at 1 and 4 at 1 - 2^-8. Its mean, 0.99998..., rounds to 1.0 in bf16, so a bf16
  // max - mean is 0 and the map explodes (the cause of the non-finite bf16 training step on
  // the GPU); in fp32 the normalised map is the official code's: max 1, the low values -255.
  auto a = torch::ones({1, 1, 32, 32});
  a.view({-1}).narrow(0, 0, 4).fill_(0.99609375);
  for (auto mode : {nn::NdmNormalise::batch, nn::NdmNormalise::sample}) {
    const auto ref = nn::normalise_map(a.to(torch::kDouble), mode).to(torch::kDouble);
    const auto got = nn::normalise_map(a.to(torch::kBFloat16), mode);
    EXPECT_EQ(got.scalar_type(), torch::kFloat);
    EXPECT_NEAR(got.max().item<double>(), 1.0, 1e-3);
    EXPECT_NEAR(got.min().item<double>(), ref.min().item<double>(), 1e-2 * std::abs(ref.min().item<double>()));
    EXPECT_NEAR(ref.min().item<double>(), -255.0, 0.5);
  }
  // The NDM block under bf16 autocast: an fp32 map, finite, normalised (max 1).
  nn::NdmImpl ndm(4, nn::NdmNormalise::batch);
  const auto f = torch::randn({2, 4, 16, 16}), r = torch::randn({2, 4, 16, 16});
  torch::Tensor m;
  {
    dmgn::compat::AutocastGuard amp(torch::kCPU, torch::kBFloat16);
    m = ndm.forward(f, r);
  }
  EXPECT_EQ(m.scalar_type(), torch::kFloat);
  EXPECT_TRUE(torch::isfinite(m).all().item<bool>());
  EXPECT_NEAR(m.max().item<double>(), 1.0, 1e-5);
}

TEST_F(Model, ReflectPadByCopiesEqualsReflectionPad2dWithGradients) {
  // What nn::reflect_pad runs on CUDA, checked here on the CPU against torch's kernel: values
  // bitwise, gradients, both memory formats, pads 1 (3x3 convs) to 16 (G_refine's dilation).
  for (int64_t pad : {1, 2, 3, 16}) {
    for (bool cl : {false, true}) {
      SCOPED_TRACE("pad " + std::to_string(pad) + (cl ? " channels-last" : " contiguous"));
      auto x = torch::randn({2, 3, 17, 23});
      if (cl) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
      const auto probe = torch::randn({2, 3, 17 + 2 * pad, 23 + 2 * pad});
      auto a = x.clone().requires_grad_(true), b = x.clone().requires_grad_(true);
      const auto ya = nn::reflect_pad_by_copies(a, pad);
      const auto yb = torch::reflection_pad2d(b, {pad, pad, pad, pad});
      EXPECT_TRUE(torch::equal(ya, yb));
      EXPECT_EQ(ya.is_contiguous(torch::MemoryFormat::ChannelsLast), cl);
      (ya * probe).sum().backward();
      (yb * probe).sum().backward();
      EXPECT_LT((a.grad() - b.grad()).abs().max().item<double>(), 1e-5);
    }
  }
  EXPECT_THROW(nn::reflect_pad_by_copies(torch::zeros({1, 1, 4, 4}), 4), c10::Error);
}

TEST_F(Model, OfficialLayoutCountsMacsAndStateDictNames) {
  // The paper defaults = the official reflection model: exact parameter counts and MACs
  // (measured on the official code with python3-torch: 65,518,888 / 45,494,504; 29.18 G at 64x64).
  const Config cfg = Config::defaults();
  auto model = dmgn::models::build_model(cfg);
  int64_t total = 0, trainable = 0;
  for (const auto& p : model->parameters()) {
    total += p.numel();
    if (p.requires_grad()) trainable += p.numel();
  }
  EXPECT_EQ(total, 65518888);
  EXPECT_EQ(trainable, 45494504);
  EXPECT_EQ(model->vestigial_parameters(), 20054016);
  {
    torch::NoGradGuard g;
    dmgn::metrics::MacCounter macs;
    model->forward(torch::zeros({1, 3, 64, 64}));
    EXPECT_EQ(macs.total(), 29179839488ull);
  }
  // Every official state-dict key maps to exactly one of our parameters, same shape.
  std::ifstream in(std::string(DMGN_SOURCE_DIR) + "/tests/fixtures/official_keys.txt");
  ASSERT_TRUE(in.good());
  auto params = model->named_parameters();
  std::set<std::string> seen;
  int64_t n = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ls(line);
    std::string name, shape;
    ls >> name >> shape;
    const auto ours = dmgn::models::official_to_ours(name);
    ASSERT_FALSE(ours.empty()) << name;
    auto* p = params.find(ours);
    ASSERT_NE(p, nullptr) << name << " -> " << ours;
    std::string our_shape;
    for (auto s : p->sizes()) our_shape += (our_shape.empty() ? "" : "x") + std::to_string(s);
    EXPECT_EQ(our_shape, shape) << name;
    EXPECT_TRUE(seen.insert(ours).second) << ours;
    ++n;
  }
  EXPECT_EQ(n, static_cast<int64_t>(params.size()));
  EXPECT_EQ(dmgn::models::official_to_ours("module.s_m0.conv1.1.weight"), "gen_b.down0.conv1.weight");
  EXPECT_EQ(dmgn::models::official_to_ours("something.else"), "");
}

TEST_F(Model, RainPresetMatchesOfficialDerainingLayout) {
  const Config cfg = Config::load(std::string(DMGN_SOURCE_DIR) + "/experiments/presets/rain.toml");
  auto model = dmgn::models::build_model(cfg);
  int64_t total = 0;
  for (const auto& p : model->parameters()) total += p.numel();
  EXPECT_EQ(total, 65518888);  // the unused NDM is kept, as in model_deraining.py
  EXPECT_EQ(model->vestigial_parameters(), 20168896);
  torch::NoGradGuard g;
  dmgn::metrics::MacCounter macs;
  auto out = model->forward(torch::zeros({1, 3, 64, 64}));
  EXPECT_EQ(macs.total(), 28709815296ull);
  EXPECT_FALSE(out.has("background_map"));  // no NDM fusion
}

TEST_F(Model, TableOneVariantsAreCompositions) {
  const std::string dir = std::string(DMGN_SOURCE_DIR) + "/experiments/table1/";
  auto x = torch::rand({1, 3, 24, 24}) * 2 - 1;
  struct Expect {
    const char* file;
    bool noise, refine, masks, ndm;
  };
  for (const Expect& e : {Expect{"base_model.toml", false, true, false, false},
                          Expect{"rdmc.toml", false, true, true, false},
                          Expect{"r_rdmc.toml", true, true, true, true},
                          Expect{"dmgn.toml", true, true, true, true},
                          Expect{"coarse.toml", true, false, true, false}}) {
    SCOPED_TRACE(e.file);
    const Config cfg = Config::load(dir + e.file, dmgn::testing::tiny_model());
    auto model = dmgn::models::build_model(cfg);
    torch::NoGradGuard g;
    auto out = model->forward(x);
    const auto& spec = model->spec();
    EXPECT_EQ(out.at(spec.primary).sizes(), x.sizes());
    EXPECT_EQ(out.has("noise"), e.noise);
    EXPECT_EQ(spec.declares("noise"), e.noise);
    EXPECT_EQ(out.has("background"), e.refine);  // B exists with a refining phase
    EXPECT_EQ(spec.primary, e.refine ? "background" : "coarse");
    EXPECT_EQ(out.has("coarse_masks"), e.masks);
    EXPECT_EQ(out.has("background_map"), e.ndm);
    for (const auto& key : out.keys()) EXPECT_TRUE(spec.declares(key)) << "undeclared output " << key;
  }
  // Inconsistent compositions are refused with the key at fault.
  try {
    dmgn::models::build_model(tiny({"model.noise_branch=false"}));
    FAIL() << "expected an error";
  } catch (const dmgn::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("model.noise_branch"), std::string::npos);
  }
}

TEST_F(Model, RegistryErrorsListKnownNames) {
  // A config naming an unknown cell is refused when it is loaded, naming the key.
  EXPECT_NE(dmgn::testing::error_of<dmgn::ConfigError>([] { tiny({"model.cell=rdnc"}); })
                .find("'model.cell' = \"rdnc\": no cell of that name is registered (known: plain, rdmc)"),
            std::string::npos);
  // The registry itself, asked in code.
  try {
    nn::cells().make("rdnc", tiny().sub("model"), nn::CellShape{4, 1, false, false, 0});
    FAIL() << "expected an error";
  } catch (const dmgn::RegistryError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("unknown cell 'rdnc'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("plain, rdmc"), std::string::npos) << msg;
  }
  try {
    dmgn::models::build_model(tiny({"model.separator.name=aca"}));
    FAIL() << "expected an error";
  } catch (const dmgn::RegistryError& e) {
    EXPECT_NE(std::string(e.what()).find("cannot serve as the separator"), std::string::npos);
  }
  // Every registry kind the issue names is populated.
  std::set<std::string> names;
  for (const auto& e : dmgn::RegistryCatalog::instance().all()) names.insert(e.kind + ":" + e.name);
  for (const char* want : {"cell:plain", "cell:rdmc", "block:separator", "block:aca", "block:ndm",
                           "generator:encoder_decoder", "generator:dilated_refine", "head:vgg_hypercolumn",
                           "discriminator:patchgan", "loss:l1", "loss:perceptual", "loss:adversarial",
                           "model:dmgn", "dataset:builtin", "synth:reflection_zhang2018"})
    EXPECT_TRUE(names.count(want)) << want;
}

}  // namespace
