// Reading torch.save files: VGG-19 weights from a file named in config (our own zip/pickle
// reader), and the errors for missing or wrong files.
#include <gtest/gtest.h>
#include <torch/csrc/jit/serialization/pickle.h>

#include <cstdlib>
#include <fstream>

#include "core/compat.h"
#include "core/config.h"
#include "core/error.h"
#include "models/model.h"
#include "nn/vgg.h"
#include "test_util.h"
#include "train/builtins.h"

namespace {

// A VGG-19 features state dict ("0.weight", ...) written in torch.save's zip format.
void write_vgg_state(const std::filesystem::path& file, const std::string& prefix, float scale) {
  dmgn::nn::Vgg19 vgg;
  c10::impl::GenericDict dict(c10::StringType::get(), c10::TensorType::get());
  int i = 0;
  for (const auto& item : vgg->named_parameters()) {
    dict.insert(prefix + item.key(), torch::full_like(item.value(), scale * static_cast<float>(++i)));
  }
  const auto bytes = torch::pickle_save(dict);
  std::ofstream(file, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

TEST(WeightsIo, VggWeightsLoadFromAFileNamedInConfig) {
  dmgn::register_builtins();
  const auto dir = dmgn::testing::scratch("vgg_weights");
  for (const std::string prefix : {"", "features."}) {
    const auto file = dir / ("vgg" + prefix + "pth");
    write_vgg_state(file, prefix, 0.001f);
    auto o = dmgn::testing::tiny_model();
    o.push_back("model.head.vgg_weights=\"" + file.string() + "\"");
    auto model = dmgn::models::build_model(dmgn::Config::defaults(o));
    ASSERT_TRUE(model->shared_vgg());
    EXPECT_TRUE(model->shared_vgg()->pretrained());
    // The network knows the file and the key that named it (the run's provenance reads them).
    EXPECT_EQ(model->shared_vgg()->weights_file(), file);
    EXPECT_EQ(model->shared_vgg()->weights_key(), "model.head.vgg_weights");
    int i = 0;
    for (const auto& item : model->shared_vgg()->named_parameters()) {
      const float want = 0.001f * static_cast<float>(++i);
      EXPECT_FLOAT_EQ(item.value().min().item<float>(), want) << item.key();
      EXPECT_FLOAT_EQ(item.value().max().item<float>(), want) << item.key();
      EXPECT_FALSE(item.value().requires_grad());
    }
  }
  // Without a file the weights stay random and the model says so.
  auto random = dmgn::models::build_model(dmgn::Config::defaults(dmgn::testing::tiny_model()));
  EXPECT_FALSE(random->shared_vgg()->pretrained());
  EXPECT_TRUE(random->shared_vgg()->weights_file().empty());
  EXPECT_EQ(random->shared_vgg()->weights_key(), "model.head.vgg_weights");
}

TEST(WeightsIo, BadWeightFilesNameTheFileAndTheTensor) {
  const auto dir = dmgn::testing::scratch("vgg_bad");
  dmgn::nn::Vgg19 vgg;
  vgg->set_weights_key("location_sirr.vgg_weights");
  try {
    vgg->load_weights(dir / "absent.pth");
    FAIL();
  } catch (const dmgn::IoError& e) {
    EXPECT_NE(std::string(e.what()).find("absent.pth"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("(location_sirr.vgg_weights)"), std::string::npos) << e.what();
  }
  std::ofstream(dir / "garbage.pth") << "not a zip";
  try {
    vgg->load_weights(dir / "garbage.pth");
    FAIL();
  } catch (const dmgn::DataError& e) {
    EXPECT_NE(std::string(e.what()).find("garbage.pth"), std::string::npos);
  }
  // A state dict of something else: the missing key is named.
  c10::impl::GenericDict dict(c10::StringType::get(), c10::TensorType::get());
  dict.insert("0.weight", torch::zeros({64, 3, 3, 3}));
  const auto bytes = torch::pickle_save(dict);
  std::ofstream(dir / "partial.pth", std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  try {
    vgg->load_weights(dir / "partial.pth");
    FAIL();
  } catch (const dmgn::DataError& e) {
    EXPECT_NE(std::string(e.what()).find("'0.bias'"), std::string::npos) << e.what();
  }
}

TEST(WeightsIo, ReadsStateDictsWrittenByPythonTorchSave) {
  // Python's torch.save writes OrderedDicts (with _metadata), which LibTorch's own unpickler
  // cannot read; check ours against python3-torch when it is installed.
  if (std::system("/usr/bin/python3 -c 'import torch' > /dev/null 2>&1") != 0)
    GTEST_SKIP() << "python3-torch is not installed; cannot produce a Python torch.save file";
  const auto dir = dmgn::testing::scratch("pysave");
  const auto file = dir / "sd.pth";
  const std::string cmd =
      "/usr/bin/python3 -c \"import torch; torch.manual_seed(0); "
      "m = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4)); "
      "x = torch.arange(24.).view(2, 3, 4)[:, 1:, ::2]; "
      "sd = m.state_dict(); sd['strided'] = x; torch.save(sd, '" + file.string() + "'); "
      "print(float(m[0].weight.sum()))\" > " + (dir / "sum.txt").string();
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  double want = 0;
  std::ifstream(dir / "sum.txt") >> want;
  const auto sd = dmgn::compat::load_state_dict(file);
  ASSERT_TRUE(sd.count("0.weight"));
  EXPECT_NEAR(sd.at("0.weight").sum().item<double>(), want, 1e-5);
  EXPECT_EQ(sd.at("1.running_var").sizes(), (std::vector<int64_t>{4}));
  EXPECT_EQ(sd.at("1.num_batches_tracked").scalar_type(), torch::kInt64);
  // A non-contiguous tensor keeps its view: x[:, 1:, ::2] of arange(24).view(2,3,4).
  const auto s = sd.at("strided");
  EXPECT_EQ(s.sizes(), (std::vector<int64_t>{2, 2, 2}));
  EXPECT_EQ(s[1][1][1].item<float>(), 22.0f);
  EXPECT_EQ(s.sum().item<float>(), 104.0f);
}

}  // namespace
