// dmgn train | eval
#include <fmt/format.h>
#include <fmt/ranges.h>  // fmt::join (its home since fmt 11)

#include <algorithm>
#include <cstdio>

#include "cli/commands.h"
#include "core/error.h"
#include "core/log.h"
#include "data/benchmarks.h"
#include "data/dataset.h"
#include "models/model.h"
#include "store/run_store.h"
#include "train/checkpoint.h"
#include "train/evaluate.h"
#include "train/trainer.h"

namespace dmgn::cli {
namespace {

void print_results(const std::vector<train::EvalResult>& results) {
  std::printf("\n%-12s %-8s %6s | %-17s | %-17s | %s\n", "dataset", "metric", "images", "model PSNR / SSIM",
              "input PSNR / SSIM", "gain");
  for (const auto& r : results)
    std::printf("%-12s %-8s %6lld | %7.2f / %7.4f | %7.2f / %7.4f | %+.2f dB %+.4f\n", r.dataset.c_str(),
                r.preset.c_str(), static_cast<long long>(r.samples), r.psnr, r.ssim, r.psnr_input,
                r.ssim_input, r.psnr - r.psnr_input, r.ssim - r.ssim_input);
  std::vector<std::string> specs;  // each convention once (datasets of several tasks)
  for (const auto& r : results)
    if (std::find(specs.begin(), specs.end(), r.spec) == specs.end()) specs.push_back(r.spec);
  for (const auto& spec : specs) std::printf("metric %s\n", spec.c_str());
}

}  // namespace

void add_train(CLI::App& app) {
  auto* cmd = app.add_subcommand("train", "Train a configured model, evaluate it, log to the run store");
  static std::string file;
  static std::vector<std::string> sets;
  static bool resume = false;
  cmd->add_option("config", file, "Config file")->required();
  cmd->add_option("--set", sets, "Override key.path=value (repeatable)");
  cmd->add_flag("--resume", resume, "Continue the latest unfinished run of this config from its checkpoint");
  cmd->callback([] {
    const Config cfg = load_config(file, sets);
    train::TrainOptions opt;
    opt.resume = resume;
    const auto s = train::run_training(cfg, opt);
    if (s.interrupted) {
      if (s.rank == 0) {  // rank 0 reports for a data-parallel run; every rank exits the same way
        // The command that resumes exactly this run: the same file and overrides (they decide
        // the config hash that --resume looks for).
        std::vector<std::string> words{"dmgn"};
        if (s.world_size > 1) words.insert(words.end(), {"launch", "--nproc", std::to_string(s.world_size), "--"});
        words.insert(words.end(), {"train", file});
        for (const auto& set : sets) words.insert(words.end(), {"--set", set});
        words.push_back("--resume");
        std::printf("run %lld interrupted at step %lld (checkpoint written); continue with: %s\n",
                    static_cast<long long>(s.run_id), static_cast<long long>(s.steps), shell_command(words).c_str());
        std::fflush(stdout);
      }
      throw ExitStatus{kExitInterrupted};
    }
    if (s.rank != 0) return;
    std::printf("\nrun %lld completed: %lld steps%s, folder %s\n", static_cast<long long>(s.run_id),
                static_cast<long long>(s.steps),
                s.skipped_steps ? fmt::format(" ({} skipped)", s.skipped_steps).c_str() : "",
                s.run_dir.string().c_str());
    print_results(s.tests);
  });
}

void add_eval(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "eval", "Evaluate a checkpoint on benchmark / held-out splits; per-image and mean metrics go to the store");
  static std::string ckpt;
  static std::vector<std::string> sets, datasets;
  static int64_t max_samples = 0;
  static std::string save_dir, store_file, overlay;
  cmd->add_option("checkpoint", ckpt, "Checkpoint (from train or import-official)")->required();
  cmd->add_option("--config", overlay,
                  "A TOML file over the checkpoint's config, e.g. [datasets.mine] tables declaring your own "
                  "benchmark folders (then --dataset mine)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--dataset", datasets,
                  "Dataset names: [datasets.<name>] benchmarks or registry datasets (default: the config's "
                  "data.test); repeatable");
  cmd->add_option("--set", sets, "Override key.path=value on the checkpoint's config (repeatable)");
  cmd->add_option("--max-samples", max_samples, "Evaluate at most this many images per dataset (0 = all)")
      ->check(at_least(0));
  cmd->add_option("--save-images", save_dir, "Write every input / output / ground truth as PNG under DIR/<dataset>/");
  cmd->add_option("--store", store_file, "Run store to write to (default: the config's runtime.store)");
  cmd->callback([] {
    const auto meta = train::read_checkpoint_meta(ckpt);
    Config cfg = Config::from_canonical(meta.config_text);
    if (!overlay.empty()) cfg.overlay(overlay);
    for (const auto& s : sets) cfg.set(s);
    train::apply_threads(cfg);
    const auto device = train::runtime_device(cfg);
    // Every dataset opens (and its listing is checked) before the model is built.
    // A dataset made of parts (one per task: data::Dataset::parts) is evaluated part by part.
    std::vector<std::shared_ptr<const data::Dataset>> sets_to_run;
    for (const auto& name : datasets.empty() ? cfg.get_strings("data.test") : datasets) {
      auto ds = train::open_for_model(cfg, name, data::Split::heldout);
      auto parts = ds->parts();
      if (parts.empty()) parts.push_back(ds);
      sets_to_run.insert(sets_to_run.end(), parts.begin(), parts.end());
    }
    auto model = models::build_model(cfg);
    train::load_checkpoint(ckpt, dmgn::train::CheckpointParts::weights(model.get()));
    model->to(device);
    store::RunStore store(store_file.empty() ? cfg.get_string("runtime.store") : store_file);
    const auto run = store.run_of_checkpoint(ckpt);
    std::vector<train::EvalResult> results;
    for (const auto& ds : sets_to_run) {
      const auto preset = train::metric_preset(cfg, *ds);
      train::EvalOptions eo;
      eo.max_samples = max_samples;
      eo.device = device;
      eo.skip_bad = data::skip_bad_samples(cfg);
      eo.memory_budget = train::memory_budget(cfg);
      if (!save_dir.empty()) {
        eo.save_dir = std::filesystem::path(save_dir) / ds->name();
        eo.save_count = -1;
      }
      auto r = train::evaluate(*model, *ds, preset, eo);
      for (const auto& m : r.skipped_messages) log::warn(fmt::format("skipped: {}", m));
      store::Evaluation e = train::evaluation_record(r, *ds);
      e.run_id = run ? run->id : 0;
      e.checkpoint = std::filesystem::absolute(ckpt).string();
      e.step = meta.step;
      e.config_hash = cfg.hash();
      const int64_t eval_id = store.log_evaluation(e, train::image_records(r));
      if (run) {
        std::vector<store::Metric> rows;
        for (const auto& [name, v] : {std::pair{"psnr", r.psnr}, std::pair{"ssim", r.ssim},
                                      std::pair{"psnr_input", r.psnr_input}, std::pair{"ssim_input", r.ssim_input}})
          rows.push_back({run->id, meta.step, "test", r.dataset, name, v, r.preset});
        if (r.skipped) rows.push_back({run->id, meta.step, "test", r.dataset, "skipped", double(r.skipped), r.preset});
        store.log_metrics(rows);
      }
      std::printf("%s: evaluation %lld in %s (%lld images%s)\n", r.dataset.c_str(), static_cast<long long>(eval_id),
                  store.path().string().c_str(), static_cast<long long>(r.samples),
                  r.skipped ? fmt::format(", {} skipped as bad", r.skipped).c_str() : "");
      results.push_back(std::move(r));
    }
    std::printf("checkpoint %s (step %lld, %s%s)\n", ckpt.c_str(), static_cast<long long>(meta.step), meta.kind.c_str(),
                run ? fmt::format(", run {}", run->id).c_str() : ", no run in this store");
    print_results(results);
  });
}

}  // namespace dmgn::cli
