#include "train/bench_model.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>

#include "core/compat.h"
#include "core/error.h"
#include "data/loader.h"
#include "metrics/macs.h"
#include "models/model.h"
#include "nn/discriminators.h"
#include "nn/layers.h"
#include "train/bench.h"
#include "train/distributed.h"
#include "train/execution.h"
#include "train/recipe.h"
#include "train/trainer.h"

namespace dmgn::train {

namespace {

template <class F>
Timing time_median(const torch::Device& device, int warmup, int repeats, F&& f) {
  for (int i = 0; i < warmup; ++i) f();
  compat::synchronize(device);
  std::vector<double> ms;
  for (int i = 0; i < repeats; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    compat::synchronize(device);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  Timing t;
  t.repeats = repeats;
  t.min_ms = ms.front();
  t.max_ms = ms.back();
  t.median_ms = ms.size() % 2 ? ms[ms.size() / 2] : 0.5 * (ms[ms.size() / 2 - 1] + ms[ms.size() / 2]);
  return t;
}

// Forward MACs of one pass of `model` on an n x 3 x size x size input.
uint64_t count_macs(models::Model& model, const Execution& ex, int64_t n, int64_t size) {
  c10::InferenceMode inference;
  metrics::MacCounter counter;
  model.forward(ex.place(torch::zeros({n, 3, size, size})));
  return counter.total();
}

double tflops_of(uint64_t macs, double ms) { return 2.0 * static_cast<double>(macs) / (ms * 1e-3) / 1e12; }

}  // namespace

double measure_gemm_tflops(const torch::Device& device, torch::ScalarType dtype) {
  const int64_t n = device.is_cuda() ? 4096 : 1024;
  const auto opts = torch::TensorOptions().device(device).dtype(dtype);
  // Random operands (zeros can run faster than real data), several pairs so that repeated
  // products do not just re-read one pair from the cache.
  std::vector<torch::Tensor> a, b;
  for (int i = 0; i < 4; ++i) {
    a.push_back(torch::randn({n, n}, opts));
    b.push_back(torch::randn({n, n}, opts));
  }
  c10::InferenceMode inference;
  int k = 0;
  const int per_call = device.is_cuda() ? 20 : 2;
  const Timing t = time_median(device, 2, device.is_cuda() ? 15 : 5, [&] {
    for (int i = 0; i < per_call; ++i, ++k) torch::mm(a[k % 4], b[k % 4]);
  });
  return 2.0 * static_cast<double>(n * n * n) * per_call / (t.median_ms * 1e-3) / 1e12;
}

std::optional<double> datasheet_tflops(const std::string& name, const std::string& mode) {
  // NVIDIA's datasheets, dense (no sparsity). H200 SXM has the H100 SXM's compute.
  struct Peak {
    double fp32, tf32, bf16;
  };
  std::optional<Peak> p;
  const auto has = [&](const char* s) { return name.find(s) != std::string::npos; };
  if (has("H200"))
    p = Peak{67.0, 494.7, 989.4};
  else if (has("H100") && has("PCIe"))
    p = Peak{51.2, 378.0, 756.0};
  else if (has("H100"))
    p = Peak{67.0, 494.7, 989.4};
  if (!p) return std::nullopt;
  if (mode == "fp32") return p->fp32;
  if (mode == "tf32") return p->tf32;
  if (mode == "bf16") return p->bf16;
  return std::nullopt;
}


namespace {

// One precision's measurements of `bench model`: each part runs on its own, and a failure is
// recorded (ModelBench::failures) while the next part runs.
class PrecisionMeasure {
 public:
  PrecisionMeasure(ModelBench& r, const ModelBenchOptions& o, const Config& pc, const std::string& precision,
                   const torch::Device& device)
      : r_(r), o_(o), pc_(pc), precision_(precision), device_(device), ex_(Execution::from_config(pc, device)) {
    r_.channels_last = ex_.channels_last;
    ex_.apply_cudnn();
    r_.cudnn_tf32 = device.is_cuda() && compat::cudnn_allows_tf32();
    pb.precision = precision;
    pb.datasheet_mode = ex_.bf16 ? "bf16" : (r_.cudnn_tf32 ? "tf32" : "fp32");
    pb.datasheet_tflops = datasheet_tflops(r_.device_name, pb.datasheet_mode);
  }

  void run() {
    if (o_.peak)
      attempt("GEMM ceiling",
              [&] { pb.gemm_tflops = measure_gemm_tflops(device_, ex_.bf16 ? torch::kBFloat16 : torch::kFloat); });
    models::ModelPtr model;
    const bool built = attempt("model", [&] {
      torch::manual_seed(pc_.get_int("run.seed"));
      model = models::build_model(pc_);
      model->to(device_);
      ex_.lay_out(*model);
      r_.parameters =
          nn::count_parameters(*model).total - model->vestigial_parameters() - model->loss_only_parameters();
    });
    if (built) {
      model->eval();
      for (int64_t size : o_.sizes) latency(*model, size);
      if (o_.profile_size > 0) profile_inference(*model);
      if (o_.fwd_bwd_repeats > 0) forward_backward(*model);
      model.reset();
    }
    if (o_.train_steps > 0) training_step();
    if (o_.fwd_bwd_repeats > 0) attempt("critics", [&] { critics(); });
  }

  PrecisionBench pb;

 private:
  bool attempt(const std::string& part, const std::function<void()>& f) {
    try {
      f();
      return true;
    } catch (const std::exception& e) {
      r_.failures.push_back(fmt::format("{} {}: {}", precision_, part, error_summary(e)));
      return false;
    }
  }

  void latency(models::Model& model, int64_t size) {
    LatencyAtSize l;
    l.size = size;
    const auto x = ex_.place(torch::rand({1, 3, size, size}) * 2 - 1);
    attempt(fmt::format("inference {}x{}", size, size), [&] {
      l.macs = count_macs(model, ex_, 1, size);
      c10::InferenceMode inference;
      l.t = time_median(device_, o_.warmup, o_.repeats, [&] {
        const auto amp = ex_.autocast();
        model.forward(x);
      });
    });
    if (r_.graphs)
      attempt(fmt::format("inference {}x{} as a CUDA graph", size, size), [&] {
        c10::InferenceMode inference;
        compat::CudaGraph graph;
        models::Outputs out;
        graph.capture(device_, [&] {
          const auto amp = ex_.autocast();
          out = model.forward(x);
        }, std::max(1, o_.warmup));
        l.graph = time_median(device_, 1, o_.repeats, [&] { graph.replay(); });
      });
    if (l.t.repeats == 0 && l.graph.repeats == 0) return;
    const double rate = tflops_of(l.macs, l.best().median_ms);
    if (pb.gemm_tflops > 0) l.fraction_measured = rate / pb.gemm_tflops;
    if (pb.datasheet_tflops) l.fraction_datasheet = rate / *pb.datasheet_tflops;
    pb.latency.push_back(l);
  }

  void profile_inference(models::Model& model) {
    const int64_t size = o_.profile_size;
    const auto x = ex_.place(torch::rand({1, 3, size, size}) * 2 - 1);
    attempt(fmt::format("profile {}x{}", size, size), [&] {
      c10::InferenceMode inference;
      const auto pass = [&] {
        const auto amp = ex_.autocast();
        model.forward(x);
      };
      for (int i = 0; i < 2; ++i) pass();  // cuDNN's algorithm search stays out of the profile
      pb.profile_inference = profile_device_time(device_, pass);
    });
  }

  void forward_backward(models::Model& model) {
    model.train();
    const auto x = ex_.place(torch::rand({o_.train_batch, 3, o_.train_size, o_.train_size}) * 2 - 1);
    // The summed L1 of every image output against a random target of its own size (a side
    // output at half size: Location-aware SIRR), backward, gradients dropped (as the peers do).
    // The targets are drawn at the first (untimed) pass.
    std::map<std::string, torch::Tensor> targets;
    const auto fwd_bwd = [&] {
      torch::Tensor loss;
      {
        const auto amp = ex_.autocast();
        const auto out = model.forward(x);
        for (const auto& d : model.spec().outputs) {
          if (d.kind != models::OutputDecl::Kind::image || d.list || !out.has(d.key)) continue;
          auto& target = targets[d.key];
          if (!target.defined()) target = torch::rand_like(out.at(d.key), torch::kFloat) * 2 - 1;
          const auto l = (out.at(d.key) - target).abs().mean().to(torch::kFloat);
          loss = loss.defined() ? loss + l : l;
        }
      }
      loss.backward();
      for (auto& p : model.parameters()) p.mutable_grad() = torch::Tensor();
    };
    attempt("forward+backward", [&] {
      pb.train_macs = count_macs(model, ex_, o_.train_batch, o_.train_size);
      pb.fwd_bwd = time_median(device_, std::max(1, o_.warmup), o_.fwd_bwd_repeats, fwd_bwd);
    });
    if (r_.graphs)
      attempt("forward+backward as a CUDA graph", [&] {
        compat::CudaGraph graph;
        graph.capture(device_, fwd_bwd, std::max(1, o_.warmup));
        pb.fwd_bwd_graph = time_median(device_, 1, o_.fwd_bwd_repeats, [&] { graph.replay(); });
      });
    if (o_.profile_size > 0 && pb.fwd_bwd.repeats > 0)
      attempt("profile forward+backward", [&] { pb.profile_fwd_bwd = profile_device_time(device_, fwd_bwd); });
    if (pb.gemm_tflops > 0 && pb.best_fwd_bwd().repeats > 0)
      pb.fwd_bwd_fraction_measured = tflops_of(3 * pb.train_macs, pb.best_fwd_bwd().median_ms) / pb.gemm_tflops;
  }

  void training_step() {
    attempt("training step", [&] {
      Config tc = pc_;
      tc.set(fmt::format("train.batch_size={}", o_.train_batch));
      tc.set(fmt::format("data.crop={}", o_.train_size));
      const CollectivePtr single = make_collective(DistEnv{});
      const auto t = measure_training_throughput(tc, *single, o_.train_steps, o_.train_warmup);
      pb.train_steps = t.steps;
      pb.train_step_ms = 1000.0 * t.seconds / static_cast<double>(std::max<int64_t>(1, t.steps));
      pb.train_images_per_s = t.images_per_s;
    });
    if (r_.graphs && pc_.get_string("runtime.host_sync") == "log")
      attempt("training step as a CUDA graph", [&] { training_step_graph(); });
  }

  // Each discriminator of the config's recipe (Physics-GAN's two, DMGN's one) on its own:
  // forward+backward at batch train_batch x train_size of LSGAN's real term mean((D(x) - 1)^2)
  // (the peer tools/peer_bench_systems.py times the reference critics so), gradients dropped.
  void critics() {
    const CollectivePtr single = make_collective(DistEnv{});
    const auto recipe = build_recipe({pc_, single, device_, 1});
    const auto x = ex_.place(torch::rand({o_.train_batch, 3, o_.train_size, o_.train_size}) * 2 - 1);
    for (const auto& [name, module] : recipe->parts().modules) {
      auto* d = dynamic_cast<nn::Discriminator*>(module);
      if (!d) continue;
      CriticBench c;
      c.name = name;
      c.parameters = nn::count_parameters(*d).total;
      c.fwd_bwd = time_median(device_, std::max(1, o_.warmup), o_.fwd_bwd_repeats, [&] {
        torch::Tensor loss;
        {
          const auto amp = ex_.autocast();
          loss = (d->forward(x, x) - 1).pow(2).mean().to(torch::kFloat);
        }
        loss.backward();
        for (auto& p : d->parameters()) p.mutable_grad() = torch::Tensor();
      });
      pb.critics.push_back(c);
    }
  }

  // The whole step (critic, generator, losses, the device-side Adam) captured once and replayed
  // on one batch held on the device: what a step costs without the host's launch overhead.
  // Only under runtime.host_sync = "log", where a step has no host wait (a wait breaks capture).
  void training_step_graph() {
    Config tc = pc_;
    tc.set(fmt::format("train.batch_size={}", o_.train_batch));
    tc.set(fmt::format("data.crop={}", o_.train_size));
    const CollectivePtr single = make_collective(DistEnv{});
    auto train_set = open_for_model(tc, tc.get_string("data.train"), data::Split::train);
    const auto loader = data::open_stream(train_set, train_loader_options(tc, *single));
    auto batch = loader->next_rolling();
    for (const auto& [name, t] : std::map<std::string, torch::Tensor>(batch.fields.all()))
      batch.fields.set(name, ex_.place(t));
    const int64_t total = o_.train_warmup + 4 + o_.train_steps;
    const auto recipe = build_recipe({tc, single, device_, total});
    int64_t step = 0;
    StepResult last;
    for (int64_t i = 0; i < std::max<int64_t>(1, o_.train_warmup); ++i) last = recipe->step(batch, step++);
    recipe->settle(last);  // the device-side state exists now; a non-finite step stops here
    compat::CudaGraph graph;
    graph.capture(device_, [&] { last = recipe->step(batch, step++); }, 2);
    const auto t = time_median(device_, 1, static_cast<int>(o_.train_steps), [&] { graph.replay(); });
    recipe->settle(last);
    pb.train_step_graph_ms = t.median_ms;
  }

  ModelBench& r_;
  const ModelBenchOptions& o_;
  const Config& pc_;
  std::string precision_;
  torch::Device device_;
  Execution ex_;
};

}  // namespace

ModelBench measure_model(const Config& cfg, const ModelBenchOptions& o) {
  if (o.repeats < 1) throw ConfigError(fmt::format("--repeats must be >= 1 (got {})", o.repeats));
  if (o.fwd_bwd_repeats < 0) throw ConfigError("--fwd-bwd-repeats must be >= 0");
  for (int64_t s : o.sizes)
    if (s < 16 || s % 4 != 0) throw ConfigError(fmt::format("--sizes: {} is not a multiple of 4 >= 16", s));
  if (o.train_size < 16 || o.train_size % 4 != 0)
    throw ConfigError(fmt::format("--train-size: {} is not a multiple of 4 >= 16", o.train_size));
  if (o.train_batch < 1) throw ConfigError("--train-batch must be >= 1");
  if (o.profile_size != 0 && (o.profile_size < 16 || o.profile_size % 4 != 0))
    throw ConfigError(fmt::format("--profile: {} is not a multiple of 4 >= 16", o.profile_size));
  if (o.precisions.empty()) throw ConfigError("--precision: nothing to measure");
  apply_threads(cfg);
  const torch::Device device = runtime_device(cfg);

  ModelBench r;
  r.threads = torch::get_num_threads();
  r.device = device_description(device);
  r.device_name = compat::device_name(device);
  r.train_batch = o.train_batch;
  r.train_size = o.train_size;
  r.graphs = o.graphs && device.is_cuda() && compat::CudaGraph::available();

  for (const auto& precision : o.precisions) {
    Config pc = cfg;
    pc.set(fmt::format("train.precision=\"{}\"", precision));
    PrecisionMeasure m(r, o, pc, precision, device);
    m.run();
    r.runs.push_back(std::move(m.pb));
  }
  return r;
}

}  // namespace dmgn::train
