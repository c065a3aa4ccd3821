#include "losses/physics.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <mutex>

#include "core/error.h"
#include "data/bicubic.h"

namespace dmgn::losses {
namespace {

using Batch = std::map<std::string, torch::Tensor>;

const torch::Tensor& field(const Batch& b, const std::string& op, const std::string& name) {
  auto it = b.find(name);
  if (it == b.end() || !it->second.defined()) {
    std::vector<std::string> have;
    for (const auto& [k, v] : b) have.push_back(k);
    throw DataError(fmt::format("physics operator '{}' needs batch field '{}' (the batch has: {}); train on a "
                                "synthesis that keeps it",
                                op, name, fmt::join(have, ", ")));
  }
  return it->second;
}

class Blur final : public PhysicsOperator {
 public:
  torch::Tensor apply(const torch::Tensor& x, const Batch& batch) const override {
    auto k = field(batch, name(), "blur_kernel").to(x.dtype());
    if (k.dim() == 3) k = k.unsqueeze(1);
    const int64_t n = x.size(0), c = x.size(1), kh = k.size(2), kw = k.size(3);
    if (k.size(0) != n || k.size(1) != 1 || kh % 2 == 0 || kw % 2 == 0)
      throw DataError(fmt::format("physics operator 'blur': blur_kernel must be N x 1 x K x K with K odd and N = {} "
                                  "(got {})",
                                  n, fmt::join(k.sizes(), "x")));
    k = k / k.sum({2, 3}, true);
    const int64_t ph = (kh - 1) / 2, pw = (kw - 1) / 2;
    const auto padded = torch::reflection_pad2d(x, {pw, pw, ph, ph});
    // Every (sample, channel) plane its own group: one grouped conv for the whole batch.
    const auto w = k.repeat_interleave(c, 0);  // (N C) x 1 x K x K
    const std::vector<int64_t> one{1, 1}, zero{0, 0};
    const auto y = torch::conv2d(padded.reshape({1, n * c, padded.size(2), padded.size(3)}), w, torch::Tensor(), one,
                                 zero, one, n * c);
    return y.reshape({n, c, x.size(2), x.size(3)});
  }
  std::vector<std::string> fields() const override { return {"blur_kernel"}; }
  std::string name() const override { return "blur"; }
};

class Haze final : public PhysicsOperator {
 public:
  explicit Haze(models::InputRange range) : range_(range) {}
  torch::Tensor apply(const torch::Tensor& x, const Batch& batch) const override {
    const auto t = field(batch, name(), "transmission").to(x.dtype());
    auto a = field(batch, name(), "airlight").to(x.dtype());
    if (a.dim() == 2) a = a.view({a.size(0), a.size(1), 1, 1});
    if (range_ == models::InputRange::minus_one_one) a = a * 2 - 1;  // [0, 1] -> the model's range
    return x * t + a * (1 - t);
  }
  std::vector<std::string> fields() const override { return {"transmission", "airlight"}; }
  std::string name() const override { return "haze"; }

 private:
  models::InputRange range_;
};

class SrBicubic final : public PhysicsOperator {
 public:
  explicit SrBicubic(const Config& full) {
    if (!full.has("synth.sr_bicubic.scale"))
      throw ConfigError("physics operator 'sr_bicubic' reads synth.sr_bicubic.scale and .convention: train on "
                        "data.builtin.synth = \"sr_bicubic\"");
    scale_ = full.get_int("synth.sr_bicubic.scale");
    conv_ = data::bicubic_convention(full.get_string("synth.sr_bicubic.convention"), "synth.sr_bicubic.convention");
  }
  torch::Tensor apply(const torch::Tensor& x, const Batch&) const override {
    const int64_t h = x.size(2), w = x.size(3);
    if (h % scale_ != 0 || w % scale_ != 0)
      throw DataError(fmt::format("physics operator 'sr_bicubic': a {}x{} image is not a multiple of the scale {}", w,
                                  h, scale_));
    // up(down(x)) per axis is one matrix U D: x -> (U_h D_h) x (U_w D_w)^T, built once per
    // size, device and dtype (training crops keep all three), not per step on the host.
    const auto m = matrices(h, w, x.options());
    return torch::matmul(torch::matmul(m.first, x), m.second.t());
  }
  std::vector<std::string> fields() const override { return {}; }
  std::string name() const override { return "sr_bicubic"; }

 private:
  std::pair<torch::Tensor, torch::Tensor> matrices(int64_t h, int64_t w, const torch::TensorOptions& o) const {
    const std::lock_guard<std::mutex> lock(mutex_);
    if (!cache_.first.defined() || cache_.first.size(1) != h || cache_.second.size(1) != w ||
        cache_.first.device() != o.device() || cache_.first.dtype() != o.dtype()) {
      const auto axis = [&](int64_t n) {  // U D in double, then to the input's device and dtype
        const auto d = data::bicubic_matrix(n, n / scale_, conv_, torch::kFloat64);
        const auto u = data::bicubic_matrix(n / scale_, n, conv_, torch::kFloat64);
        return torch::matmul(u, d).to(o);
      };
      cache_ = {axis(h), axis(w)};
    }
    return cache_;
  }

  int64_t scale_ = 4;
  data::BicubicConvention conv_ = data::BicubicConvention::reference;
  mutable std::mutex mutex_;
  mutable std::pair<torch::Tensor, torch::Tensor> cache_;  // (U_h D_h, U_w D_w)
};

}  // namespace

PhysicsRegistry& physics_operators() {
  static PhysicsRegistry registry("physics");
  return registry;
}

std::string physics_for_task(const std::string& task, const std::string& key) {
  if (task == "blur") return "blur";
  if (task == "haze") return "haze";
  if (task == "sr") return "sr_bicubic";
  if (task == "rain") return "rain";
  throw ConfigError(fmt::format("config key '{}': task '{}' has no physics model in Physics-GAN (blur, haze, sr); "
                                "name an operator or \"none\"",
                                key, task));
}

void register_physics_operators() {
  physics_operators().add("blur", "y~ = k (x) x, the sample's kernel, reflect padding (Eq. 7)",
                          [](const Config&, models::InputRange) -> PhysicsPtr { return std::make_shared<Blur>(); });
  physics_operators().add("haze", "y~ = x t + A (1 - t), the sample's t and A",
                          [](const Config&, models::InputRange r) -> PhysicsPtr { return std::make_shared<Haze>(r); });
  physics_operators().add("sr_bicubic", "y~ = bicubic up(down(x)) at synth.sr_bicubic.scale",
                          [](const Config& c, models::InputRange) -> PhysicsPtr {
                            return std::make_shared<SrBicubic>(c);
                          });
  physics_operators().add("rain", "refused: Physics-GAN publishes no deraining operator",
                          [](const Config&, models::InputRange) -> PhysicsPtr {
                            throw ConfigError(
                                "physics operator 'rain': Physics-GAN trains deraining (Sec. 5.6) but publishes no "
                                "physics model for it (the reference code has blur, haze and SR only); use "
                                "physics_gan.operator = \"none\" for its BaseGAN");
                          });
  physics_operators().add("auto", "the operator of task.name (blur, haze, sr -> sr_bicubic, rain)",
                          [](const Config& c, models::InputRange r) -> PhysicsPtr {
                            return physics_operators().make(
                                physics_for_task(c.get_string("task.name"), "physics_gan.operator"), c, r);
                          });
  physics_operators().add("none", "no physics model (BaseGAN, Table 8)",
                          [](const Config&, models::InputRange) -> PhysicsPtr { return nullptr; });
}

}  // namespace dmgn::losses
