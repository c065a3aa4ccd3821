// dmgn launch | bench scaling
#include <fmt/format.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "cli/commands.h"
#include "core/compat.h"
#include "core/error.h"
#include "gitrev.h"
#include "store/run_store.h"
#include "train/bench.h"
#include "train/launch.h"
#include "train/trainer.h"

namespace dmgn::cli {
namespace fs = std::filesystem;

void add_launch(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "launch", "Start N local data-parallel workers: dmgn launch --nproc N -- train CONFIG [...]");
  static int nproc = 2;
  static int port = 0;
  static double grace = 10;
  static std::vector<std::string> args;
  cmd->add_option("--nproc", nproc, "Number of workers (ranks)")
      ->check(within(1, 256, "each rank is a process with its own copy of the model and data workers"));
  cmd->add_option("--master-port", port, "Rendezvous port (default: a free one)");
  cmd->add_option("--grace", grace, "Seconds between SIGTERM and SIGKILL for the survivors of a failure")
      ->check(positive_number(/*or_zero=*/true));
  cmd->add_option("command", args, "The worker's dmgn command, after --")->required();
  cmd->callback([] {
    train::LaunchOptions o;
    o.nproc = nproc;
    o.args = args;
    o.master_port = port;
    o.grace_s = grace;
    const auto r = train::launch_local(o);
    if (r.exit_code == kExitInterrupted || r.exit_code == kExitRequeue)
      throw ExitStatus{r.exit_code};  // rank 0 printed how to resume
    if (r.exit_code != 0) throw DistError(fmt::format("dmgn launch: {} (exit code {})", r.message, r.exit_code));
  });
}


void add_bench(CLI::App& app) {
  auto* cmd = app.add_subcommand("bench", "Benchmarks (results go to the run store)");
  cmd->require_subcommand(1);
  {
    auto* sc = cmd->add_subcommand(
        "scaling", "Training images/s at world size 1..N (Gloo, CPU) for the same global batch");
    static std::string file;
    static std::vector<std::string> sets;
    static int64_t global_batch = 4, steps = 5, warmup = 2;
    static int max_world = 2, threads = 0;
    sc->add_option("config", file, "Config file")->required();
    sc->add_option("--set", sets, "Override key.path=value (repeatable)");
    sc->add_option("--global-batch", global_batch, "Images per step over all ranks")
        ->check(within(1, 4096, "every rank holds its share of the batch and its activations in memory"));
    sc->add_option("--steps", steps, "Timed steps per world size")->check(at_least(1));
    sc->add_option("--warmup", warmup, "Untimed steps first")->check(at_least(0));
    sc->add_option("--max-world", max_world, "Largest world size (every divisor of the batch up to it)")
        ->check(within(1, 256, "each rank is a process with its own copy of the model"));
    sc->add_option("--threads", threads, "Torch threads per rank (0 = cores / world size)")
        ->check(within(0, 512, "torch starts one OpenMP thread each"));
    sc->callback([] {
      const Config cfg = load_config(file, sets);
      if (max_world < 1 || global_batch < 1) throw ConfigError("bench scaling: --max-world and --global-batch must be >= 1");
      const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
      const fs::path tmp = fs::temp_directory_path() / fmt::format("dmgn_bench_{}", ::getpid());
      fs::create_directories(tmp);
      struct Row {
        int world, threads;
        double ips, seconds;
      };
      std::vector<Row> rows;
      for (int w = 1; w <= max_world; ++w) {
        if (global_batch % w != 0) continue;
        const int t = threads > 0 ? threads : std::max(1, cores / w);
        const fs::path out = tmp / fmt::format("world{}.txt", w);
        std::vector<std::string> args{"bench", "scaling-worker", file, "--steps", std::to_string(steps),
                                      "--warmup", std::to_string(warmup), "--out", out.string()};
        for (const auto& s : sets) args.insert(args.end(), {"--set", s});
        for (const auto& s : {fmt::format("train.batch_size={}", global_batch / w),
                              fmt::format("runtime.threads={}", t), std::string("runtime.progress=false")})
          args.insert(args.end(), {"--set", s});
        train::LaunchOptions lo;
        lo.nproc = w;
        lo.args = args;
        lo.quiet = true;
        std::fprintf(stderr, "bench scaling: world size %d (%lld per rank, %d threads per rank)...\n", w,
                     static_cast<long long>(global_batch / w), t);
        const auto lr = train::launch_local(lo);
        if (lr.exit_code != 0) throw DistError(fmt::format("bench scaling at world size {}: {}", w, lr.message));
        std::ifstream in(out);
        Row row{w, t, 0, 0};
        if (!(in >> row.ips >> row.seconds))
          throw IoError(fmt::format("bench scaling: worker result '{}' is missing or malformed", out.string()));
        rows.push_back(row);
      }
      fs::remove_all(tmp);
      if (rows.empty()) throw ConfigError("bench scaling: no world size divides --global-batch");

      const std::string device = train::device_description(train::runtime_device(cfg));
      store::RunStore store(cfg.get_string("runtime.store"));
      std::printf("bench scaling | %s | config %s | global batch %lld, crop %lld | %lld timed steps\n",
                  device.c_str(), cfg.short_hash().c_str(), static_cast<long long>(global_batch),
                  static_cast<long long>(cfg.get_int("data.crop")), static_cast<long long>(steps));
      std::printf("%6s %10s %12s %12s %9s %11s\n", "world", "batch/rank", "threads/rank", "images/s", "speedup",
                  "efficiency");
      const double base = rows.front().ips;
      for (const auto& r : rows) {
        const double speedup = r.ips / base, eff = speedup / r.world;
        std::printf("%6d %10lld %12d %12.3f %8.2fx %10.1f%%\n", r.world,
                    static_cast<long long>(global_batch / r.world), r.threads, r.ips, speedup, 100 * eff);
        store::BenchRow b = bench_row(cfg, "scaling", device);
        b.params = fmt::format("world_size={} global_batch={} batch_per_rank={} threads_per_rank={} crop={} "
                               "steps={} backend={}",
                               r.world, global_batch, global_batch / r.world, r.threads, cfg.get_int("data.crop"),
                               steps, r.world > 1 ? "gloo" : "none");
        b.name = "images_per_s";
        b.value = r.ips;
        b.unit = "images/s";
        store.log_bench(b);
        if (r.world > 1) {
          b.name = "parallel_efficiency";
          b.value = eff;
          b.unit = "fraction";
          store.log_bench(b);
        }
      }
      std::printf("stored in %s (benchmarks table)\n", cfg.get_string("runtime.store").c_str());
    });
  }
  {
    auto* dc = cmd->add_subcommand(
        "data", "Loader images/s (data.workers threads) beside the trainer's consumption at the same setting");
    static std::string file;
    static std::vector<std::string> sets;
    static int64_t batches = 100, warmup = 5, steps = 5, train_warmup = 2;
    dc->add_option("config", file, "Config file")->required();
    dc->add_option("--set", sets, "Override key.path=value (repeatable)");
    dc->add_option("--batches", batches, "Timed loader batches")->check(at_least(1));
    dc->add_option("--warmup", warmup, "Untimed loader batches first")->check(at_least(0));
    dc->add_option("--steps", steps, "Timed training steps (the consumption side); 0 = skip it")->check(at_least(0));
    dc->add_option("--train-warmup", train_warmup, "Untimed training steps first")->check(at_least(0));
    dc->callback([] {
      const Config cfg = load_config(file, sets);
      const auto lt = train::measure_loader_throughput(cfg, batches, warmup);
      double train_ips = 0;
      if (steps > 0) {
        // The trainer alone, with the same loader in it: what it consumes per second.
        const train::CollectivePtr single = train::make_collective(train::DistEnv{});
        train_ips = train::measure_training_throughput(cfg, *single, steps, train_warmup).images_per_s;
      }
      const std::string device = train::device_description(train::runtime_device(cfg));
      std::printf("bench data | %s | config %s | dataset %s | batch %lld, crop %lld, %lld loader thread(s), "
                  "%d torch thread(s)\n",
                  device.c_str(), cfg.short_hash().c_str(), cfg.get_string("data.train").c_str(),
                  static_cast<long long>(lt.batch_size), static_cast<long long>(cfg.get_int("data.crop")),
                  static_cast<long long>(lt.workers), torch::get_num_threads());
      std::printf("loader  : %10.1f images/s (%lld batches in %.2f s)\n", lt.images_per_s,
                  static_cast<long long>(lt.batches), lt.seconds);
      if (steps > 0) {
        std::printf("trainer : %10.1f images/s consumed (%lld steps)\n", train_ips, static_cast<long long>(steps));
        const double ratio = lt.images_per_s / train_ips;
        std::printf("ratio   : %10.1fx %s\n", ratio,
                    ratio >= 3.0 ? "(the loader keeps ahead: >= 3x)"
                                 : "(BELOW 3x: raise data.workers or lighten the augmentation)");
      }
      store::RunStore store(cfg.get_string("runtime.store"));
      store::BenchRow b = bench_row(cfg, "data", device);
      b.params = fmt::format("dataset={} batch={} crop={} workers={} batches={} train_steps={}",
                             cfg.get_string("data.train"), lt.batch_size, cfg.get_int("data.crop"), lt.workers,
                             batches, steps);
      const auto put = [&](const char* name, double v, const char* unit) {
        b.name = name;
        b.value = v;
        b.unit = unit;
        store.log_bench(b);
      };
      put("loader_images_per_s", lt.images_per_s, "images/s");
      if (steps > 0) {
        put("train_images_per_s", train_ips, "images/s");
        put("loader_to_train_ratio", lt.images_per_s / train_ips, "ratio");
      }
      std::printf("stored in %s (benchmarks table)\n", cfg.get_string("runtime.store").c_str());
    });
  }
  add_bench_model(*cmd);
  {
    auto* wk = cmd->add_subcommand("scaling-worker", "(internal) one rank of bench scaling");
    wk->group("");  // hidden
    static std::string file, out;
    static std::vector<std::string> sets;
    static int64_t steps = 5, warmup = 2;
    wk->add_option("config", file)->required();
    wk->add_option("--set", sets);
    wk->add_option("--steps", steps);
    wk->add_option("--warmup", warmup);
    wk->add_option("--out", out)->required();
    wk->callback([] {
      const Config cfg = load_config(file, sets);
      auto coll = train::collective_from_environment(cfg);
      const auto r = train::measure_training_throughput(cfg, *coll, steps, warmup);
      if (coll->rank() == 0) {
        std::ofstream o(out);
        o << fmt::format("{:.6f} {:.6f}\n", r.images_per_s, r.seconds);
        if (!o) throw IoError(fmt::format("cannot write '{}'", out));
      }
    });
  }
}

}  // namespace dmgn::cli
