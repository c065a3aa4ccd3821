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
#include "models/system_info.h"
#include "store/run_store.h"
#include "train/checkpoint.h"
#include "train/evaluate.h"
#include "train/trainer.h"

namespace dmgn::cli {
namespace {

void print_per_image(const train::EvalResult& r) {
  std::printf("\n%s: per image (%s)\n%-40s %8s %8s | %8s %8s\n", r.dataset.c_str(), r.preset.c_str(), "image", "PSNR",
              "SSIM", "in PSNR", "in SSIM");
  for (const auto& i : r.images)
    std::printf("%-40s %8.2f %8.4f | %8.2f %8.4f\n", i.id.c_str(), i.psnr, i.ssim, i.psnr_input, i.ssim_input);
}

void print_results(const std::vector<train::EvalResult>& results, const std::vector<std::string>& why = {}) {
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
  for (size_t i = 0; i < why.size() && i < results.size(); ++i)
    std::printf("convention for %s: %s\n", results[i].dataset.c_str(), why[i].c_str());
}

}  // namespace

void add_train(CLI::App& app) {
  auto* cmd = app.add_subcommand("train", "Train a configured model, evaluate it, log to the run store");
  static std::string file;
  static std::vector<std::string> sets;
  static bool resume = false;
  cmd->add_option("config", file, "Config file")->required();
  cmd->add_option("--set", sets, "Override key.path=value (repeatable)");
  static std::string dataset;
  cmd->add_flag("--resume", resume, "Continue the latest unfinished run of this config from its checkpoint");
  cmd->add_option("--dataset", dataset,
                  "Train on this [datasets.<name>] entry (its train_root), validate and test on its held-out "
                  "split: data.train, data.val and data.test set to it");
  add_output_options(cmd);
  cmd->callback([] {
    Config cfg = load_config(file, sets);
    if (!dataset.empty()) {
      const std::string v = fmt::format("\"{}\"", dataset);
      const auto dropped =
          cfg.reselect({"data.train=" + v, "data.val=" + v, fmt::format("data.test=[{}]", v)});
      if (!dropped.empty())
        log::info(fmt::format("--dataset {}: the config's keys of the data it replaces are left out: {}", dataset,
                              fmt::join(dropped, ", ")));
    }
    apply_outputs(cfg);
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
        if (!dataset.empty()) words.insert(words.end(), {"--dataset", dataset});
        for (const auto& w : output_words()) words.push_back(w);
        words.push_back("--resume");
        std::printf("run %lld interrupted at step %lld (checkpoint written); continue with: %s\n",
                    static_cast<long long>(s.run_id), static_cast<long long>(s.steps), shell_command(words).c_str());
        std::fflush(stdout);
      }
      throw ExitStatus{s.requeue ? kExitRequeue : kExitInterrupted};
    }
    if (s.rank != 0) return;
    std::printf("\nrun %lld completed: %lld steps%s, folder %s\n", static_cast<long long>(s.run_id),
                static_cast<long long>(s.steps),
                s.skipped_steps ? fmt::format(" ({} skipped)", s.skipped_steps).c_str() : "",
                s.run_dir.string().c_str());
    // Why each test's convention (evaluate.h, the one rule), where it is the dataset's by name.
    std::vector<std::string> why;
    for (const auto& r : s.tests) {
      std::string w;
      try {
        const auto c = train::metric_convention(cfg, r.dataset);
        if (c.spec.name == r.preset) w = c.why;
      } catch (const Error&) {
      }
      why.push_back(w.empty() ? fmt::format("{} (the convention of its part's task)", r.preset) : w);
    }
    print_results(s.tests, why);
  });
}

namespace {

// The config `dmgn eval` evaluates: the checkpoint's, under --config and --set; without a
// checkpoint, --config as it stands, for a training-free method only (models::training_free).
Config eval_config(const std::string& ckpt, const std::string& overlay, const std::vector<std::string>& sets,
                   train::CheckpointMeta& meta) {
  if (ckpt.empty()) {
    if (overlay.empty()) throw ConfigError("dmgn eval: give a checkpoint, or --config of a training-free method");
    Config cfg = load_config(overlay, sets);
    if (!models::training_free(cfg))
      throw ConfigError(fmt::format("dmgn eval: model '{}' of '{}' is trained: give its checkpoint (--config alone "
                                    "evaluates a training-free method, e.g. dcp)",
                                    cfg.get_string("model.name"), overlay));
    return cfg;
  }
  meta = train::read_checkpoint_meta(ckpt);
  Config cfg = Config::from_canonical(meta.config_text);
  if (!overlay.empty()) cfg.overlay(overlay);
  for (const auto& s : sets) cfg.set(s);
  return cfg;
}

}  // namespace

void add_eval(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "eval",
      "Evaluate a checkpoint (or a training-free method's --config) on benchmark / held-out splits; per-image and "
      "mean metrics go to the store");
  static std::string ckpt;
  static std::vector<std::string> sets, datasets;
  static int64_t max_samples = 0;
  static std::string save_dir, overlay;
  cmd->add_option("checkpoint", ckpt,
                  "Checkpoint (from train or import-official); none for a training-free method (the dark channel "
                  "prior): then --config is its whole config");
  cmd->add_option("--config", overlay,
                  "A TOML file over the checkpoint's config, e.g. [datasets.mine] tables declaring your own "
                  "benchmark folders (then --dataset mine); without a checkpoint, the config of a training-free "
                  "method (experiments/dcp/base.toml)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--dataset", datasets,
                  "Dataset names: [datasets.<name>] benchmarks or registry datasets (default: the config's "
                  "data.test); repeatable");
  cmd->add_option("--set", sets, "Override key.path=value on the checkpoint's config (repeatable)");
  cmd->add_option("--max-samples", max_samples, "Evaluate at most this many images per dataset (0 = all)")
      ->check(at_least(0));
  static bool per_image = false;
  cmd->add_option("--save-images", save_dir,
                  "Write every output, input and ground truth under DIR/<dataset>/{output,input,gt}/ with the "
                  "original file names, and the per-image scores as DIR/<dataset>/scores.csv");
  cmd->add_flag("--per-image", per_image, "Print every image's scores (the file names of the dataset)");
  add_output_options(cmd);
  cmd->callback([] {
    train::CheckpointMeta meta;
    Config cfg = eval_config(ckpt, overlay, sets, meta);
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
    if (!ckpt.empty()) train::load_checkpoint(ckpt, dmgn::train::CheckpointParts::weights(model.get()));
    model->to(device);
    store::RunStore store(store_path(&cfg));
    const auto run = ckpt.empty() ? std::optional<store::RunRow>{} : store.run_of_checkpoint(ckpt);
    std::vector<train::EvalResult> results;
    std::vector<std::string> why;
    for (const auto& ds : sets_to_run) {
      const auto convention = train::metric_convention(cfg, *ds);
      const auto& preset = convention.spec;
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
      e.checkpoint = ckpt.empty() ? std::string() : std::filesystem::absolute(ckpt).string();
      e.step = meta.step;
      e.config_hash = cfg.hash();
      e.origin = "eval";  // its own record: not the run's test result (`dmgn evals` lists it)
      const int64_t eval_id = store.log_evaluation(e, train::image_records(r));
      std::printf("%s: evaluation %lld in %s (%lld images%s)\n", r.dataset.c_str(), static_cast<long long>(eval_id),
                  store.path().string().c_str(), static_cast<long long>(r.samples),
                  r.skipped ? fmt::format(", {} skipped as bad", r.skipped).c_str() : "");
      if (!save_dir.empty()) {
        const auto csv = std::filesystem::path(save_dir) / ds->name() / "scores.csv";
        train::write_scores_csv(r, csv);
        std::printf("%s: images and per-image scores in %s\n", r.dataset.c_str(), csv.parent_path().string().c_str());
      }
      if (per_image) print_per_image(r);
      results.push_back(std::move(r));
      why.push_back(convention.why);
    }
    if (ckpt.empty())
      std::printf("training-free %s (%s, config %s)\n", cfg.get_string("model.name").c_str(), overlay.c_str(),
                  cfg.short_hash().c_str());
    else
      std::printf("checkpoint %s (step %lld, %s%s)\n", ckpt.c_str(), static_cast<long long>(meta.step),
                  meta.kind.c_str(), run ? fmt::format(", run {}", run->id).c_str() : ", no run in this store");
    print_results(results, why);
  });
}

}  // namespace dmgn::cli
