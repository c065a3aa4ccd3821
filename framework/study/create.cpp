#include "study/create.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <map>
#include <numeric>
#include <random>
#include <set>

#include "core/config.h"
#include "core/error.h"
#include "core/log.h"
#include "data/dataset.h"
#include "data/image_files.h"
#include "data/image_io.h"
#include "metrics/psnr_ssim.h"
#include "models/model.h"
#include "store/run_store.h"
#include "train/checkpoint.h"
#include "train/evaluate.h"
#include "train/trainer.h"
#include "web/http.h"

namespace dmgn::study {

namespace fs = std::filesystem;

namespace {

bool all_digits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
}

// A method made ready to render: its store row, and for a run the model, for a folder its files.
struct Prepared {
  store::StudyMethod row;
  models::ModelPtr model;
  torch::Device device = torch::kCPU;
  train::Footprint footprint;             // run: its memory per pixel (measured once)
  std::map<std::string, fs::path> files;  // folder: stem -> file
};

// The folder file of a sample: its id, the id's file stem, or the id with '/' as '_'.
const fs::path* folder_file(const Prepared& m, const std::string& id) {
  std::string flat = id;
  std::replace(flat.begin(), flat.end(), '/', '_');
  for (const std::string& key : {id, fs::path(id).stem().string(), flat, fs::path(flat).stem().string()})
    if (auto it = m.files.find(key); it != m.files.end()) return &it->second;
  return nullptr;
}

std::string default_name(const MethodSpec& spec, const store::RunRow* run) {
  if (spec.kind == "input") return "Input";
  if (spec.kind == "folder") return fs::path(spec.source).lexically_normal().filename().string();
  return !run->variant.empty() ? run->variant : !run->name.empty() ? run->name : fmt::format("run {}", run->id);
}

}  // namespace

MethodSpec parse_method(const std::string& text) {
  MethodSpec m;
  std::string spec = text;
  if (const auto eq = text.find('='); eq != std::string::npos) {
    m.name = text.substr(0, eq);
    spec = text.substr(eq + 1);
    if (m.name.empty()) throw ConfigError(fmt::format("method '{}': empty name before '='", text));
  }
  if (spec == "input") {
    m.kind = "input";
  } else if (spec.rfind("run:", 0) == 0 || all_digits(spec)) {
    m.kind = "run";
    m.source = spec.rfind("run:", 0) == 0 ? spec.substr(4) : spec;
    if (!all_digits(m.source)) throw ConfigError(fmt::format("method '{}': run:ID needs a run id, got '{}'", text, m.source));
  } else if (std::error_code ec; spec.rfind("folder:", 0) == 0 || fs::is_directory(spec, ec)) {
    m.kind = "folder";
    m.source = spec.rfind("folder:", 0) == 0 ? spec.substr(7) : spec;
    if (!fs::is_directory(m.source, ec))
      throw ConfigError(fmt::format("method '{}': folder '{}' does not exist", text, m.source));
  } else {
    throw ConfigError(fmt::format("method '{}' is not run:ID, a run id, folder:PATH, an existing folder, or input",
                                  text));
  }
  return m;
}

store::Study create_study(const CreateOptions& o) {
  if (o.name.empty() || o.name.size() > 64 ||
      !std::all_of(o.name.begin(), o.name.end(),
                   [](unsigned char c) { return std::isalnum(c) || c == '_' || c == '-' || c == '.'; }) ||
      o.name[0] == '.')
    throw ConfigError(fmt::format("study name '{}': use 1-64 letters, digits, '_', '-' or '.' (not first)", o.name));
  if (o.methods.size() < 2) throw ConfigError("a study needs at least two methods (--methods A,B,...)");
  if (o.samples < 1) throw ConfigError(fmt::format("--samples must be >= 1, got {}", o.samples));
  store::StudyStore studies(o.store);
  if (studies.find(o.name))
    throw ConfigError(fmt::format("store {}: a study named '{}' exists already; choose another name", o.store.string(), o.name));
  const fs::path dir = o.dir.empty() ? (o.store.parent_path().empty() ? fs::path(".") : o.store.parent_path()) / "studies" / o.name : o.dir;
  std::error_code status_ec;  // anything there, a broken link too, is in the way
  if (fs::exists(fs::symlink_status(dir, status_ec)))
    throw IoError(fmt::format("study folder '{}' exists already; remove it or pass --dir", dir.string()));

  // The methods, checked before anything is rendered.
  const store::RunStore runs(o.store, store::RunStore::Access::read_only);
  std::vector<Prepared> methods;
  std::optional<Config> data_cfg;
  std::string data_from;
  if (!o.config.empty()) {
    if (!fs::exists(o.config, status_ec)) throw ConfigError(fmt::format("config file '{}' does not exist", o.config));
    data_cfg = Config::load(o.config, o.sets);
    data_from = "config " + o.config;
  }
  std::set<std::string> names;
  for (const auto& text : o.methods) {
    const MethodSpec spec = parse_method(text);
    Prepared p;
    p.row.position = static_cast<int64_t>(methods.size());
    p.row.kind = spec.kind;
    p.row.source = spec.source;
    std::optional<store::RunRow> run;
    if (spec.kind == "run") {
      run = runs.run(std::stoll(spec.source));
      if (!run) throw ConfigError(fmt::format("method '{}': run {} is not in {}", text, spec.source, o.store.string()));
      const auto ckpt = train::latest_checkpoint(fs::path(run->run_dir) / "checkpoints");
      if (!ckpt) throw DataError(fmt::format("method '{}': run {} has no checkpoint under {}/checkpoints", text, run->id, run->run_dir));
      const auto meta = train::read_checkpoint_meta(*ckpt);
      const Config cfg = Config::from_canonical(meta.config_text);
      p.row.run_id = run->id;
      p.row.checkpoint = fs::absolute(*ckpt).string();
      p.row.step = meta.step;
      p.model = models::build_model(cfg);
      train::load_checkpoint(*ckpt, train::CheckpointParts::weights(p.model.get()));
      p.device = train::runtime_device(cfg);
      p.model->to(p.device);
      p.model->eval();
      if (!data_cfg) {
        train::apply_threads(cfg);
        data_cfg = cfg;
        data_from = fmt::format("run {} (config {})", run->id, run->config_hash.substr(0, 12));
      }
    } else if (spec.kind == "folder") {
      std::vector<std::string> ignored;
      p.files = data::images_by_stem(spec.source, ignored);
      if (p.files.empty()) throw DataError(fmt::format("method '{}': no images in folder '{}'", text, spec.source));
      if (!ignored.empty())
        log::info(fmt::format("method '{}': {} file(s) in '{}' are not images and were ignored (the first: {})", text,
                              ignored.size(), spec.source, ignored.front()));
      p.row.source = fs::absolute(spec.source).lexically_normal().string();
    }
    p.row.name = spec.name.empty() ? default_name(spec, run ? &*run : nullptr) : spec.name;
    if (!names.insert(p.row.name).second) {
      if (spec.name.empty() && run) p.row.name += fmt::format(" (run {})", run->id);
      if (!names.insert(p.row.name).second)
        throw ConfigError(fmt::format("two methods are named '{}': name them (NAME=SPEC)", p.row.name));
    }
    methods.push_back(std::move(p));
  }
  if (!data_cfg)
    throw ConfigError("no run among the methods: pass --config FILE to say how to open the dataset");
  const std::string dataset_name = o.dataset.empty() ? data_cfg->get_strings("data.test").at(0) : o.dataset;
  const auto dataset = train::open_for_model(*data_cfg, dataset_name, data::Split::heldout);
  const auto spec = train::metric_preset(*data_cfg, *dataset);
  const auto size = static_cast<int64_t>(dataset->size());
  if (o.samples > size)
    throw ConfigError(fmt::format("dataset '{}' has {} samples: --samples {} is too many", dataset->name(), size, o.samples));

  // The samples: a seeded partial Fisher-Yates draw, in draw order.
  std::vector<int64_t> order(static_cast<size_t>(size));
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(static_cast<uint64_t>(o.seed));
  for (int64_t i = 0; i < o.samples; ++i) {
    std::uniform_int_distribution<int64_t> pick(i, size - 1);
    std::swap(order[static_cast<size_t>(i)], order[static_cast<size_t>(pick(rng))]);
  }

  store::Study study;
  study.name = o.name;
  study.dataset = dataset->name();
  study.seed = o.seed;
  study.dir = fs::absolute(dir).lexically_normal().string();
  study.token = web::random_hex(16);
  study.git_revision = o.git_revision;
  for (const auto& m : methods) study.methods.push_back(m.row);

  const fs::path partial = dir.string() + ".partial-" + web::random_hex(4);
  fs::create_directories(partial);
  try {
    std::set<std::string> used;
    const auto fresh_name = [&] {
      for (;;)
        if (auto n = web::random_hex(12) + ".png"; used.insert(n).second) return n;
    };
    c10::InferenceMode inference;
    for (int64_t i = 0; i < o.samples; ++i) {
      const int64_t index = order[static_cast<size_t>(i)];
      const data::Sample s = dataset->get(static_cast<size_t>(index), 0);
      const auto input = s.input().clamp(0, 1);
      const bool has_gt = s.has(data::field::background);
      store::StudySample row{i, s.id, index, fresh_name()};
      data::write_image(partial / row.input_file, data::to_mat(input));
      study.samples.push_back(row);
      for (auto& m : methods) {
        torch::Tensor out;
        if (m.row.kind == "input") {
          out = input;
        } else if (m.row.kind == "run") {
          train::EvalOptions eo;  // as dmgn eval restores it: tiled or refused when too large
          eo.device = m.device;
          out = train::restore_sample(*m.model, s, eo, m.footprint).image(*m.model, m.model->spec().primary)[0];
        } else {
          const fs::path* file = folder_file(m, s.id);
          if (!file)
            throw DataError(fmt::format("method '{}': no image for sample '{}' in '{}' (files pair by stem with the sample id)",
                                        m.row.name, s.id, m.row.source));
          out = data::to_tensor(data::read_image(*file));
          if (out.sizes() != input.sizes())
            throw DataError(fmt::format("method '{}': '{}' is {}x{} but sample '{}' is {}x{}", m.row.name, file->string(),
                                        out.size(2), out.size(1), s.id, input.size(2), input.size(1)));
        }
        store::StudyImage im{i, m.row.position, fresh_name(), std::nan(""), std::nan("")};
        data::write_image(partial / im.file, data::to_mat(out));
        if (has_gt) {
          const auto q = metrics::assess(out, s.at(data::field::background), spec);
          im.psnr = q.psnr;
          im.ssim = q.ssim;
        }
        study.images.push_back(im);
      }
      log::info(fmt::format("study {}: sample {}/{} ({}) rendered", o.name, i + 1, o.samples, s.id));
    }
    std::vector<std::string> prov = {
        fmt::format("dataset={} size={} samples={} seed={}", dataset->name(), size, o.samples, o.seed),
        fmt::format("data_from={}", data_from), fmt::format("metric={}", spec.describe())};
    for (const auto& [k, v] : dataset->provenance()) prov.push_back(fmt::format("dataset.{}={}", k, v));
    study.provenance = fmt::format("{}", fmt::join(prov, "\n"));
    fs::rename(partial, dir);
  } catch (...) {
    std::error_code ec;
    fs::remove_all(partial, ec);
    throw;
  }
  try {
    study.id = studies.create(study);
  } catch (...) {
    std::error_code ec;
    fs::remove_all(dir, ec);
    throw;
  }
  return study;
}

}  // namespace dmgn::study
