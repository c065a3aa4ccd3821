// dmgn restore CHECKPOINT INPUT... --out DIR: a trained (or imported) model on your own images,
// with or without ground truth. Inputs are image files, folders (every image under them, sub
// folders kept as they are) or glob patterns; each output keeps its input's relative name and
// extension under DIR. Images too large for the memory the process may use are restored in
// tiles (train/tiling.h), or in tiles of --tile pixels when asked. A file that cannot be read is
// named and skipped, or stops the run, per data.on_bad_sample (--on-bad-sample).
#include <fmt/format.h>
#include <glob.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <set>

#include "cli/commands.h"
#include "core/error.h"
#include "core/log.h"
#include "core/progress.h"
#include "data/benchmarks.h"
#include "data/image_files.h"
#include "data/image_io.h"
#include "models/model.h"
#include "train/checkpoint.h"
#include "train/evaluate.h"
#include "train/tiling.h"
#include "train/trainer.h"

namespace dmgn::cli {
namespace fs = std::filesystem;
namespace {

struct RestoreItem {
  fs::path input;
  fs::path relative;  // the output's name under --out
};

// Every image an argument names: a file as it is, a folder's images (recursively, sorted, their
// path under the folder kept), a glob's matches (by name; a folder among them adds its images).
void collect(const std::string& arg, std::vector<RestoreItem>& out) {
  const auto add_folder = [&](const fs::path& dir) {
    std::vector<fs::path> files;
    for (const auto& e : fs::recursive_directory_iterator(dir))
      if (e.is_regular_file() && data::is_image_file(e.path())) files.push_back(e.path());
    std::sort(files.begin(), files.end());
    if (files.empty()) throw DataError(fmt::format("restore: folder '{}' holds no image files", dir.string()));
    for (const auto& f : files) out.push_back({f, fs::relative(f, dir)});
  };
  const fs::path p(arg);
  if (fs::is_directory(p)) return add_folder(p);
  if (fs::exists(p)) return out.push_back({p, p.filename()});
  if (arg.find_first_of("*?[") != std::string::npos) {
    glob_t g{};
    const int rc = ::glob(arg.c_str(), 0, nullptr, &g);
    std::vector<fs::path> matches;
    for (size_t i = 0; rc == 0 && i < g.gl_pathc; ++i) matches.emplace_back(g.gl_pathv[i]);
    globfree(&g);
    if (matches.empty()) throw DataError(fmt::format("restore: no file matches '{}'", arg));
    for (const auto& m : matches) {
      if (fs::is_directory(m))
        add_folder(m);
      else
        out.push_back({m, m.filename()});
    }
    return;
  }
  throw IoError(fmt::format("restore: input '{}' does not exist", arg));
}

}  // namespace

void add_restore(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "restore", "Restore your own images (no ground truth needed) with a checkpoint; names and formats kept");
  struct Args {
    std::string ckpt, out, on_bad;
    std::vector<std::string> inputs, sets;
    int64_t tile = 0, overlap = 32;
    bool overwrite = false;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("checkpoint", a->ckpt, "Checkpoint (from train or import-official)")->required();
  cmd->add_option("inputs", a->inputs, "Image files, folders (recursively) or glob patterns")->required();
  cmd->add_option("--out", a->out,
                  "Output folder: each result under its input's name (default: <output root>/restored/<checkpoint "
                  "name>, a run's checkpoint as <run folder>_step_N)");
  add_output_options(cmd);
  cmd->add_option("--set", a->sets, "Override key.path=value on the checkpoint's config (repeatable)");
  cmd->add_option("--tile", a->tile,
                  "Restore in tiles of this output side (a multiple of the model's size multiple); 0 = whole "
                  "images, tiles only where memory requires them")
      ->check(within(0, 65536, "a tile's side in pixels"));
  cmd->add_option("--overlap", a->overlap, "Context in pixels on each side of a --tile tile")
      ->check(within(0, 4096, "context pixels on each side of a tile"));
  cmd->add_option("--on-bad-sample", a->on_bad, "fail | skip an unreadable image (default: data.on_bad_sample)")
      ->check(CLI::IsMember({"fail", "skip"}));
  cmd->add_flag("--overwrite", a->overwrite, "Replace outputs that exist (default: refuse, naming the file)");
  cmd->callback([a] {
    const auto meta = train::read_checkpoint_meta(a->ckpt);
    Config cfg = Config::from_canonical(meta.config_text);
    for (const auto& s : a->sets) cfg.set(s);
    if (!a->on_bad.empty()) cfg.set(fmt::format("data.on_bad_sample=\"{}\"", a->on_bad));
    const bool skip_bad = data::skip_bad_samples(cfg);
    train::apply_threads(cfg);
    const auto device = train::runtime_device(cfg);

    std::vector<RestoreItem> items;
    for (const auto& arg : a->inputs) collect(arg, items);
    // Default: <output root>/restored/<checkpoint>, a run's checkpoint named with its run folder
    // (runs/<run>/checkpoints/step_N.ckpt -> <run>_step_N) so that runs never share a folder.
    const fs::path ckpt_path = fs::absolute(a->ckpt);
    std::string name = ckpt_path.stem().string();
    if (ckpt_path.parent_path().filename() == "checkpoints")
      name = ckpt_path.parent_path().parent_path().filename().string() + "_" + name;
    const fs::path out_dir = a->out.empty() ? output_root(&cfg) / "restored" / name : fs::path(a->out);
    std::set<fs::path> names;
    for (const auto& it : items) {
      if (!names.insert(it.relative).second)
        throw DataError(fmt::format("restore: two inputs would both be written to '{}'", (out_dir / it.relative).string()));
      if (!a->overwrite && fs::exists(out_dir / it.relative))
        throw IoError(fmt::format("restore: '{}' exists (--overwrite replaces it)", (out_dir / it.relative).string()));
    }

    auto model = models::build_model(cfg);
    train::load_checkpoint(a->ckpt, train::CheckpointParts::weights(model.get()));
    model->to(device);
    model->eval();
    const int64_t m = std::max<int64_t>(1, model->spec().size_multiple);
    if (a->tile > 0 && a->tile % m != 0)
      throw ConfigError(fmt::format("--tile {}: not a multiple of the model's size multiple {}", a->tile, m));
    train::EvalOptions eo;
    eo.device = device;
    eo.memory_budget = train::memory_budget(cfg);
    if (a->tile > 0) eo.tiles = train::TilePlan{a->tile, (a->overlap + m - 1) / m * m};
    train::Footprint footprint;
    const std::string task = cfg.get_string("task.name");
    std::printf("restore: %zu image(s) with %s (model %s, step %lld) -> %s\n", items.size(), a->ckpt.c_str(),
                cfg.get_string("model.name").c_str(), static_cast<long long>(meta.step), out_dir.string().c_str());
    Progress progress(static_cast<int64_t>(items.size()));
    int64_t done = 0, skipped = 0;
    for (const auto& it : items) {
      try {
        data::ImageInfo info;
        const cv::Mat img = data::read_image(it.input, &info);
        data::Sample sample(data::to_tensor(img), {}, {}, it.input.string(), task);
        c10::InferenceMode inference;
        const auto restored =
            train::restore_sample(*model, sample, eo, footprint).image(*model, model->spec().primary);
        // 16-bit files stay 16-bit (alpha is dropped, as the loader drops it).
        const auto target = out_dir / it.relative;
        data::write_image(target, data::to_mat(restored[0]), info.bits >= 16 && data::holds_16_bits(target) ? 16 : 8);
        ++done;
      } catch (const Error& e) {
        if (!skip_bad) throw;
        ++skipped;
        log::warn(fmt::format("skipped '{}': {}", it.input.string(), e.what()));
      }
      std::fprintf(stderr, "%s\n", progress.line(done + skipped, it.relative.string()).c_str());
    }
    std::printf("restore: %lld written under %s, %lld skipped\n", static_cast<long long>(done),
                out_dir.string().c_str(), static_cast<long long>(skipped));
  });
}

}  // namespace dmgn::cli
