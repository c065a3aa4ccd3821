// dmgn bench model CONFIG: speed and complexity of a configured model (train/bench_model.h).
#include <fmt/format.h>

#include <cstdio>

#include "cli/commands.h"
#include "core/compat.h"
#include "core/error.h"
#include "store/run_store.h"
#include "train/bench.h"
#include "train/bench_model.h"
#include "train/trainer.h"

namespace dmgn::cli {

namespace {

std::string fraction_text(const train::LatencyAtSize& l, const train::PrecisionBench& pb) {
  std::string s;
  if (pb.gemm_tflops > 0) s += fmt::format("{:.1f}% of measured GEMM", 100 * l.fraction_measured);
  if (l.fraction_datasheet)
    s += fmt::format("{}{:.1f}% of {} datasheet", s.empty() ? "" : ", ", 100 * *l.fraction_datasheet, pb.datasheet_mode);
  return s;
}

void print_profile(const std::string& what, const train::DeviceProfile& p) {
  std::printf("  profile %s: %.2f ms of %s, %lld of them\n", what.c_str(), p.total_ms, p.unit.c_str(),
              static_cast<long long>(p.count));
  const double total = p.total_ms > 0 ? p.total_ms : 1.0;
  for (const auto& k : p.kinds)
    std::printf("    %-12s %9.2f ms %5.1f%% (%lld)\n", k.name.c_str(), k.ms, 100 * k.ms / total,
                static_cast<long long>(k.count));
  for (const auto& t : p.top)
    std::printf("    %9.2f ms x%-5lld %s\n", t.ms, static_cast<long long>(t.count), t.name.substr(0, 110).c_str());
}

void print(const Config& cfg, const train::ModelBench& r, const train::ModelBenchOptions& mo) {
  std::printf("bench model | %s | torch %s | %d torch thread(s) | %s | head taps: %s | config %s (%s/%s)\n",
              r.device.c_str(), compat::torch_version().c_str(), r.threads,
              r.channels_last ? "channels-last" : "contiguous", cfg.get_string("runtime.head_taps").c_str(),
              cfg.short_hash().c_str(), cfg.get_string("run.experiment").c_str(), cfg.get_string("run.variant").c_str());
  std::printf("parameters : %s (the network that runs: vestigial and loss-only ones excluded)\n",
              thousands(r.parameters).c_str());
  for (const auto& pb : r.runs) {
    std::printf("[%s]", pb.precision.c_str());
    if (pb.gemm_tflops > 0) std::printf(" GEMM ceiling %.2f TFLOP/s measured", pb.gemm_tflops);
    if (pb.datasheet_tflops) std::printf(", datasheet %s peak %.1f TFLOP/s", pb.datasheet_mode.c_str(), *pb.datasheet_tflops);
    std::printf("\n");
    for (const auto& l : pb.latency) {
      const auto& b = l.best();
      std::printf("  %4lldx%-4lld: %8.1f GMACs | inference %10.2f ms median (min %.2f, max %.2f, %d runs%s) | %.2f "
                  "TFLOP/s%s%s\n",
                  static_cast<long long>(l.size), static_cast<long long>(l.size), static_cast<double>(l.macs) / 1e9,
                  b.median_ms, b.min_ms, b.max_ms, b.repeats, &b == &l.graph ? ", CUDA graph" : "",
                  2.0 * static_cast<double>(l.macs) / (b.median_ms * 1e-3) / 1e12,
                  fraction_text(l, pb).empty() ? "" : " = ", fraction_text(l, pb).c_str());
      if (l.graph.repeats > 0 && l.t.repeats > 0)
        std::printf("             eager %.2f ms, CUDA graph %.2f ms\n", l.t.median_ms, l.graph.median_ms);
    }
    const auto& fb = pb.best_fwd_bwd();
    if (fb.repeats > 0)
      std::printf("  fwd+bwd  : %10.2f ms median (min %.2f, max %.2f, %d runs%s) at batch %lld x %lldx%lld, %.2f "
                  "images/s%s\n",
                  fb.median_ms, fb.min_ms, fb.max_ms, fb.repeats, &fb == &pb.fwd_bwd_graph ? ", CUDA graph" : "",
                  static_cast<long long>(r.train_batch), static_cast<long long>(r.train_size),
                  static_cast<long long>(r.train_size),
                  1000.0 * static_cast<double>(r.train_batch) / fb.median_ms,
                  pb.gemm_tflops > 0
                      ? fmt::format(" | ~{:.1f}% of measured GEMM (backward counted as 2x forward)",
                                    100 * pb.fwd_bwd_fraction_measured)
                            .c_str()
                      : "");
    if (pb.fwd_bwd_graph.repeats > 0 && pb.fwd_bwd.repeats > 0)
      std::printf("             eager %.2f ms, CUDA graph %.2f ms\n", pb.fwd_bwd.median_ms, pb.fwd_bwd_graph.median_ms);
    if (pb.profile_inference)
      print_profile(fmt::format("inference {0}x{0}", mo.profile_size), *pb.profile_inference);
    if (pb.profile_fwd_bwd)
      print_profile(fmt::format("fwd+bwd {0} x {1}x{1}", r.train_batch, r.train_size), *pb.profile_fwd_bwd);
    if (pb.train_steps > 0)
      std::printf("  training : %10.2f ms per step (G + critic + losses + Adam) at batch %lld x %lldx%lld, %.2f "
                  "images/s (%lld steps, host_sync %s)\n",
                  pb.train_step_ms, static_cast<long long>(r.train_batch), static_cast<long long>(r.train_size),
                  static_cast<long long>(r.train_size), pb.train_images_per_s, static_cast<long long>(pb.train_steps),
                  cfg.get_string("runtime.host_sync").c_str());
    for (const auto& c : pb.critics)
      std::printf("  critic %-3s: %9.2f ms fwd+bwd at batch %lld x %lldx%lld (%s parameters)\n", c.name.c_str(),
                  c.fwd_bwd.median_ms, static_cast<long long>(r.train_batch), static_cast<long long>(r.train_size),
                  static_cast<long long>(r.train_size), thousands(c.parameters).c_str());
    if (pb.train_step_graph_ms > 0)
      std::printf("  training : %10.2f ms per step as a CUDA graph replay, %.2f images/s\n", pb.train_step_graph_ms,
                  1000.0 * static_cast<double>(r.train_batch) / pb.train_step_graph_ms);
  }
}

void store_rows(const Config& cfg, const train::ModelBench& r, const train::ModelBenchOptions& mo) {
  store::RunStore store(cfg.get_string("runtime.store"));
  store::BenchRow b = bench_row(cfg, "model", r.device);
  const std::string who =
      fmt::format("experiment={} variant=\"{}\" threads={} device_name=\"{}\" channels_last={} head_taps={}",
                  cfg.get_string("run.experiment"), cfg.get_string("run.variant"), r.threads, r.device_name,
                  r.channels_last ? 1 : 0, cfg.get_string("runtime.head_taps"));
  const auto put = [&](const char* name, double v, const char* unit, const std::string& params) {
    b.name = name;
    b.value = v;
    b.unit = unit;
    b.params = params;
    store.log_bench(b);
  };
  put("parameters", static_cast<double>(r.parameters), "count", who);
  for (const auto& pb : r.runs) {
    const std::string p = fmt::format("{} precision={}", who, pb.precision);
    if (pb.gemm_tflops > 0) put("gemm_tflops", pb.gemm_tflops, "TFLOP/s", p);
    if (pb.datasheet_tflops)
      put("datasheet_tflops", *pb.datasheet_tflops, "TFLOP/s", fmt::format("{} mode={}", p, pb.datasheet_mode));
    for (const auto& l : pb.latency) {
      const std::string at = fmt::format("{} size={}", p, l.size);
      put("macs", static_cast<double>(l.macs), "MAC", at);
      if (l.t.repeats > 0)
        put("latency_ms", l.t.median_ms, "ms", fmt::format("{} repeats={} warmup={} mode=eager", at, l.t.repeats, mo.warmup));
      if (l.graph.repeats > 0)
        put("latency_ms", l.graph.median_ms, "ms",
            fmt::format("{} repeats={} warmup={} mode=graph", at, l.graph.repeats, mo.warmup));
      if (pb.gemm_tflops > 0) put("peak_fraction_measured", l.fraction_measured, "ratio", at);
      if (l.fraction_datasheet)
        put("peak_fraction_datasheet", *l.fraction_datasheet, "ratio", fmt::format("{} mode={}", at, pb.datasheet_mode));
    }
    const std::string at = fmt::format("{} batch={} size={}", p, r.train_batch, r.train_size);
    if (pb.fwd_bwd.repeats > 0)
      put("fwd_bwd_ms", pb.fwd_bwd.median_ms, "ms", fmt::format("{} repeats={} mode=eager", at, pb.fwd_bwd.repeats));
    if (pb.fwd_bwd_graph.repeats > 0)
      put("fwd_bwd_ms", pb.fwd_bwd_graph.median_ms, "ms",
          fmt::format("{} repeats={} mode=graph", at, pb.fwd_bwd_graph.repeats));
    const auto put_profile = [&](const std::optional<train::DeviceProfile>& prof, const std::string& where) {
      if (!prof) return;
      put("profile_ms", prof->total_ms, "ms", fmt::format("{} kind=all count={}", where, prof->count));
      for (const auto& k : prof->kinds)
        put("profile_ms", k.ms, "ms", fmt::format("{} kind={} count={}", where, k.name, k.count));
    };
    put_profile(pb.profile_inference, fmt::format("{} part=inference size={}", p, mo.profile_size));
    put_profile(pb.profile_fwd_bwd, fmt::format("{} part=fwd_bwd", at));
    for (const auto& c : pb.critics) {
      const auto critic = fmt::format("{} critic={}", at, c.name);
      put("critic_fwd_bwd_ms", c.fwd_bwd.median_ms, "ms",
          fmt::format("{} repeats={} mode=eager", critic, c.fwd_bwd.repeats));
      put("critic_parameters", static_cast<double>(c.parameters), "count", critic);
    }
    if (pb.train_steps > 0) {
      const auto steps = fmt::format("{} steps={} host_sync={}", at, pb.train_steps, cfg.get_string("runtime.host_sync"));
      put("train_step_ms", pb.train_step_ms, "ms", steps);
      put("train_images_per_s", pb.train_images_per_s, "images/s", steps);
      if (pb.train_step_graph_ms > 0) put("train_step_ms", pb.train_step_graph_ms, "ms", steps + " mode=graph");
    }
  }
  std::printf("stored in %s (benchmarks table)\n", cfg.get_string("runtime.store").c_str());
}

}  // namespace

void add_bench_model(CLI::App& bench) {
  auto* mc = bench.add_subcommand(
      "model",
      "Inference latency per image, forward+backward and training step, MAC rate as a fraction of the device's peak "
      "(Table III; the official-code comparison). Several configs are measured one after another in one process, "
      "so that their times are comparable (Table III's DMGN, ERRNet and IBCLN rows)");
  static std::vector<std::string> files;
  static std::vector<std::string> sets;
  static train::ModelBenchOptions mo;
  static bool no_peak = false, no_graphs = false;
  mc->add_option("config", files, "Config file(s), measured in this order (--set applies to each)")->required();
  mc->add_option("--set", sets, "Override key.path=value (repeatable)");
  mc->add_option("--sizes", mo.sizes, "Square inference sizes (multiples of 4)")
      ->delimiter(',')
      ->check(within(4, 8192, "an inference pass holds the model's activations at that size"));
  mc->add_option("--precision", mo.precisions, "fp32 and/or bf16 (autocast), e.g. fp32,bf16")->delimiter(',');
  mc->add_option("--repeats", mo.repeats, "Timed inference passes per size (the median is reported)")
      ->check(at_least(1));
  mc->add_option("--warmup", mo.warmup, "Untimed passes first")->check(at_least(0));
  mc->add_option("--fwd-bwd-repeats", mo.fwd_bwd_repeats,
                 "Timed forward+backward passes at --train-batch x --train-size; 0 = skip");
  mc->add_option("--train-steps", mo.train_steps, "Timed whole training steps (G, critic, Adam); 0 = skip")
      ->check(at_least(0));
  mc->add_option("--train-batch", mo.train_batch, "Batch for forward+backward and the training step")
      ->check(within(1, 1024, "the batch and its activations are in memory at once"));
  mc->add_option("--train-size", mo.train_size, "Crop for forward+backward and the training step")
      ->check(within(1, 4096, "as data.crop: a crop's activations grow with its area"));
  mc->add_option("--profile", mo.profile_size,
                 "Also profile one eager inference pass at this size and one forward+backward: time by kind of "
                 "kernel (CUDA) or operator (CPU, self time) and the heaviest ones; 0 = off");
  mc->add_flag("--no-peak", no_peak, "Skip the GEMM ceiling measurement");
  mc->add_flag("--no-graphs", no_graphs, "On CUDA, time eager passes only (no CUDA graph replays)");
  mc->callback([] {
    mo.peak = !no_peak;
    mo.graphs = !no_graphs;
    // Every config loads (and is checked) before anything is measured.
    std::vector<Config> cfgs;
    for (const auto& file : files) cfgs.push_back(load_config(file, sets));
    std::vector<std::string> failures;
    for (size_t i = 0; i < cfgs.size(); ++i) {
      if (cfgs.size() > 1) std::printf("== %s (%zu of %zu)\n", files[i].c_str(), i + 1, cfgs.size());
      const auto r = train::measure_model(cfgs[i], mo);
      print(cfgs[i], r, mo);
      store_rows(cfgs[i], r, mo);  // what was measured is kept, also when a part failed
      for (const auto& f : r.failures) {
        std::fprintf(stderr, "bench model: %s: failed: %s\n", files[i].c_str(), f.c_str());
        failures.push_back(files[i] + ": " + f);
      }
    }
    if (!failures.empty())
      throw Error(fmt::format("bench model: {} part(s) failed (the rest is stored): {}", failures.size(),
                              failures.front()));
  });
}

}  // namespace dmgn::cli
