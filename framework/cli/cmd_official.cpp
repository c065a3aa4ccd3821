// dmgn import-official | parity: the official PyTorch code's weights in our model.
#include <fmt/format.h>

#include <cstdio>
#include <filesystem>
#include <optional>

#include "cli/commands.h"
#include "core/compat.h"
#include "core/error.h"
#include "models/model.h"
#include "models/import.h"
#include "models/task_routed.h"
#include "nn/discriminators.h"
#include "train/checkpoint.h"
#include "train/bench.h"
#include "train/trainer.h"

namespace dmgn::cli {
namespace fs = std::filesystem;
namespace {

// The task preset with the official layout; --set may still override (e.g. runtime.threads).
// With --config, that config instead (another system of the registry, e.g. Location-aware SIRR).
Config official_config(const std::string& task, const std::string& presets, const std::vector<std::string>& sets,
                       const std::string& config_file) {
  if (!config_file.empty()) return Config::load(config_file, sets);
  std::vector<std::string> all{"model.vestigial=true", "model.head.vgg_weights=\"\""};
  all.insert(all.end(), sets.begin(), sets.end());
  return Config::load(preset_file(task, presets), all);
}

models::ModelPtr import_model(const Config& cfg, const fs::path& state_file) {
  // A dmgn checkpoint is a zip archive too, but not a pickled state dict: say what it is.
  std::optional<train::CheckpointMeta> ours;
  try {
    ours = train::read_checkpoint_meta(state_file);
  } catch (const std::exception&) {
  }
  if (ours)
    throw DataError(fmt::format("'{}' is a dmgn checkpoint ({}, step {}), not a state dict saved by the official "
                                "code: use it as it is (dmgn eval / visualize / train --resume)",
                                state_file.string(), ours->kind, ours->step));
  torch::manual_seed(cfg.get_int("run.seed"));
  auto model = models::build_model(cfg);
  const auto state = compat::load_state_dict(state_file);
  // The model knows its reference's layout (models/model.h: by name unless it maps names).
  const auto n = model->import_reference(state, state_file.string());
  std::printf("imported %lld tensors from %s\n", static_cast<long long>(n), state_file.string().c_str());
  return model;
}

}  // namespace

void add_official(CLI::App& app) {
  {
    auto* cmd = app.add_subcommand("import-official",
                                   "Convert a state dict saved by official code (DMGN, Location-aware SIRR, Physics-GAN netG_A) into a checkpoint");
    static std::string state, task = "reflection", out, presets, config;
    static std::vector<std::string> sets;
    cmd->add_option("state_dict", state, "torch.save'd state dict (.pth) of the official Model")->required();
    auto* t = cmd->add_option("--task", task, "reflection | rain | haze (which official DMGN model file)");
    cmd->add_option("--config", config,
                    "Instead of --task: the config of another registry system (e.g. "
                    "experiments/location_sirr/base.toml for Location-aware SIRR's model.pth)")
        ->excludes(t);
    cmd->add_option("--out", out, "Checkpoint to write")->required();
    cmd->add_option("--presets", presets, "Folder with the task preset TOMLs (default: experiments/presets)");
    cmd->add_option("--set", sets, "Override key.path=value (repeatable)");
    cmd->callback([] {
      const Config cfg = official_config(task, presets, sets, config);
      auto model = import_model(cfg, state);
      train::CheckpointMeta meta;
      meta.kind = "weights";
      meta.config_text = cfg.canonical();
      train::save_checkpoint(out, meta, dmgn::train::CheckpointParts::weights(model.get()));
      std::printf("wrote %s (model %s; evaluate with: dmgn eval %s)\n", out.c_str(),
                  cfg.get_string("model.name").c_str(), out.c_str());
    });
  }
  {
    auto* cmd = app.add_subcommand(
        "parity", "Compare our model with the official one on the output of tools/official_parity.py");
    static std::string dir, task = "reflection", presets, config;
    static double tolerance = 1e-4;
    static std::vector<std::string> sets;
    cmd->add_option("out_dir", dir,
                    "OUT_DIR written by tools/official_parity.py (or tools/lasirr_parity.py, tools/pgan_parity.py, "
                    "tools/mbn_parity.py)")
        ->required();
    auto* t = cmd->add_option("--task", task, "reflection | rain | haze (DMGN)");
    cmd->add_option("--config", config,
                    "Instead of --task: the config of another registry system; its outputs are read from "
                    "OUT_DIR/<model.name>/")
        ->excludes(t);
    cmd->add_option("--tolerance", tolerance, "Largest accepted max |difference|")->check(positive_number());
    cmd->add_option("--presets", presets, "Folder with the task preset TOMLs (default: experiments/presets)");
    cmd->add_option("--set", sets, "Override key.path=value (repeatable)");
    cmd->callback([] {
      Config cfg = official_config(task, presets, sets, config);
      const std::string label = config.empty() ? task : cfg.get_string("model.name");
      const fs::path base = fs::path(dir) / label;
      train::apply_threads(cfg);
      auto model = import_model(cfg, base / "state_dict.pth");
      const auto input = compat::load_state_dict(base / "input.pt");
      const auto ref = compat::load_state_dict(base / "outputs.pt");
      if (input.size() != 1)
        throw DataError(fmt::format("'{}' should hold one tensor", (base / "input.pt").string()));
      // Plain fp32 on either device: cuDNN's TF32 convolutions (LibTorch's default on Ampere and
      // later) round to 10 mantissa bits; tools/official_parity.py --device cuda turns them off too.
      const torch::Device device = train::runtime_device(cfg);
      compat::set_cudnn_allow_tf32(false);
      model->to(device);
      c10::InferenceMode inference;
      model->eval();
      auto out = model->forward(input.begin()->second.to(device, torch::kFloat32));
      out.apply([](const torch::Tensor& t) { return t.cpu(); });
      bool ok = true;
      std::printf("parity %s (%s, torch %s, %s fp32), tolerance %.1e\n", label.c_str(), base.string().c_str(),
                  compat::torch_version().c_str(), train::device_description(device).c_str(), tolerance);
      // Every output the model declares with a name in the reference implementation: item i of
      // a list output is "<name>.<i>"; a name ending in ".last" is the reference's highest index.
      const auto compare = [&](const std::string& name, const torch::Tensor& ours) {
        auto it = ref.find(name);
        if (it == ref.end())
          throw DataError(fmt::format("'{}' has no tensor '{}'", (base / "outputs.pt").string(), name));
        if (!ours.defined() || ours.sizes() != it->second.sizes())
          throw DataError(fmt::format("output '{}' shape differs from the official one", name));
        const double diff = (ours - it->second).abs().max().item<double>();
        const double range = it->second.abs().max().item<double>();
        ok = ok && diff <= tolerance;
        std::printf("  %-11s max |ours - official| = %.3e  (max |official| = %.3f)  %s\n", name.c_str(), diff,
                    range, diff <= tolerance ? "ok" : "FAIL");
      };
      const std::string last = ".last";
      // A reference name "*.<name>" is per task path of a task-routed model (MBN): the model is
      // routed to every task the reference saved ("<task>.<name>") and compared there.
      auto* routed = dynamic_cast<models::TaskRouted*>(model.get());
      for (const auto& d : model->spec().outputs) {
        if (d.reference.empty()) continue;
        std::string name = d.reference;
        if (name.rfind("*.", 0) == 0) {
          if (!routed) throw Error(fmt::format("output '{}': a per-task reference needs a task-routed model", d.key));
          const std::string was = routed->routed();
          for (const auto& t : routed->routed_tasks()) {
            const std::string stem = t + name.substr(1);
            if (ref.lower_bound(stem) == ref.end() || ref.lower_bound(stem)->first.rfind(stem, 0) != 0) continue;
            routed->route(t);
            auto o = model->forward(input.begin()->second.to(device, torch::kFloat32));
            o.apply([](const torch::Tensor& x) { return x.cpu(); });
            const auto items = d.list ? o.list(d.key) : std::vector<torch::Tensor>{o.get(d.key)};
            for (size_t i = 0; i < items.size(); ++i)
              compare(d.list ? fmt::format("{}.{}", stem, i) : stem, items[i]);
          }
          routed->route(was);
          continue;
        }
        if (d.list) {
          const auto items = out.list(d.key);
          for (size_t i = 0; i < items.size(); ++i) compare(fmt::format("{}.{}", name, i), items[i]);
          continue;
        }
        if (name.size() > last.size() && name.compare(name.size() - last.size(), last.size(), last) == 0) {
          const std::string stem = name.substr(0, name.size() - last.size() + 1);  // "frame1."
          int highest = -1;
          for (const auto& [k, v] : ref)
            if (k.rfind(stem, 0) == 0) {
              try {
                highest = std::max(highest, std::stoi(k.substr(stem.size())));
              } catch (const std::exception&) {
              }
            }
          name = highest < 0 ? name : stem + std::to_string(highest);
        }
        compare(name, out.get(d.key));
      }
      // A discriminator saved beside the model (tools/pgan_parity.py: Physics-GAN's D in our
      // layer names): D on the input ("D") and on the reference's G(y) ("D_fake"), so that a
      // generator difference does not show up twice.
      const fs::path d_file = base / "discriminator_state_dict.pth";
      if (fs::exists(d_file)) {
        auto d = nn::discriminators().make(cfg.get_string("discriminator.name"), cfg.sub("discriminator"));
        const auto n = models::import_by_name(*d, compat::load_state_dict(d_file), d_file.string());
        std::printf("imported %lld tensors from %s\n", static_cast<long long>(n), d_file.string().c_str());
        d->to(device);
        d->eval();
        const torch::Tensor none;
        compare("D", d->forward(input.begin()->second.to(device, torch::kFloat32), none).cpu());
        if (ref.count("D_fake") && ref.count("fake_B"))
          compare("D_fake", d->forward(ref.at("fake_B").to(device, torch::kFloat32), none).cpu());
      }
      if (!ok) throw Error(fmt::format("parity failed for {}: difference above {:.1e}", label, tolerance));
    });
  }
}

}  // namespace dmgn::cli
