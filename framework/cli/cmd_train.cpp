// dmgn train | eval
#include <fmt/format.h>

#include <cstdio>

#include "cli/commands.h"
#include "core/error.h"
#include "core/log.h"
#include "data/dataset.h"
#include "models/model.h"
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
  if (!results.empty()) std::printf("metric %s\n", results.front().spec.c_str());
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
    if (s.rank != 0) return;  // rank 0 reports for a data-parallel run
    if (s.interrupted) {
      const std::string launcher = s.world_size > 1 ? fmt::format("launch --nproc {} -- ", s.world_size) : "";
      std::printf("run %lld interrupted at step %lld; continue with: dmgn %strain %s --resume\n",
                  static_cast<long long>(s.run_id), static_cast<long long>(s.steps), launcher.c_str(), file.c_str());
      return;
    }
    std::printf("\nrun %lld completed: %lld steps%s, folder %s\n", static_cast<long long>(s.run_id),
                static_cast<long long>(s.steps),
                s.skipped_steps ? fmt::format(" ({} skipped)", s.skipped_steps).c_str() : "",
                s.run_dir.string().c_str());
    print_results(s.tests);
  });
}

void add_eval(CLI::App& app) {
  auto* cmd = app.add_subcommand("eval", "Evaluate a checkpoint on held-out / test splits");
  static std::string ckpt;
  static std::vector<std::string> sets, datasets;
  static int64_t max_samples = 0;
  static std::string save_dir;
  cmd->add_option("checkpoint", ckpt, "Checkpoint (from train or import-official)")->required();
  cmd->add_option("--dataset", datasets, "Dataset names (default: the config's data.test)");
  cmd->add_option("--set", sets, "Override key.path=value on the checkpoint's config (repeatable)");
  cmd->add_option("--max-samples", max_samples, "Evaluate at most this many images per dataset");
  cmd->add_option("--save", save_dir, "Write the first results as PNGs to this folder");
  cmd->callback([] {
    const auto meta = train::read_checkpoint_meta(ckpt);
    Config cfg = Config::from_canonical(meta.config_text);
    for (const auto& s : sets) cfg.set(s);
    train::apply_threads(cfg);
    const auto device = train::runtime_device(cfg);
    auto model = models::build_model(cfg);
    train::load_checkpoint(ckpt, {model.get(), nullptr, nullptr, nullptr});
    model->to(device);
    const auto preset = train::metric_preset(cfg);
    std::vector<train::EvalResult> results;
    for (const auto& name : datasets.empty() ? cfg.get_strings("data.test") : datasets) {
      auto ds = data::datasets().make(name, cfg, data::Split::heldout);
      train::EvalOptions eo;
      eo.max_samples = max_samples;
      eo.device = device;
      if (!save_dir.empty()) eo.save_dir = std::filesystem::path(save_dir) / name;
      results.push_back(train::evaluate(*model, *ds, preset, eo));
    }
    std::printf("checkpoint %s (step %lld, %s)\n", ckpt.c_str(), static_cast<long long>(meta.step),
                meta.kind.c_str());
    print_results(results);
  });
}

}  // namespace dmgn::cli
