#include "train/evaluate.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include "core/compat.h"
#include "core/cpu_memory.h"
#include "core/csv.h"
#include "core/dtype.h"
#include "core/error.h"
#include "data/benchmarks.h"
#include "data/image_files.h"
#include "data/image_io.h"
#include "models/task_routed.h"

namespace dmgn::train {

metrics::Spec metric_preset(const Config& cfg) { return metrics::spec_from_config(cfg); }

metrics::Spec metric_preset(const Config& cfg, const std::string& dataset) {
  return metrics::spec_from_config(cfg, dataset.empty() ? "" : data::dataset_task(cfg, dataset));
}

metrics::Spec metric_preset(const Config& cfg, const data::Dataset& dataset) {
  return metric_convention(cfg, dataset).spec;
}

// Reflection-pads NCHW `x` so H and W are multiples of `m`.
torch::Tensor pad_to_multiple(const torch::Tensor& x, int64_t m) {
  const int64_t h = x.size(-2), w = x.size(-1);
  const int64_t ph = (m - h % m) % m, pw = (m - w % m) % m;
  if (ph == 0 && pw == 0) return x;
  // Reflection needs the pad smaller than the side; replicate covers tiny images.
  namespace F = torch::nn::functional;
  if (ph < h && pw < w) return F::pad(x, F::PadFuncOptions({0, pw, 0, ph}).mode(torch::kReflect));
  return F::pad(x, F::PadFuncOptions({0, pw, 0, ph}).mode(torch::kReplicate));
}

torch::Tensor Restoration::image(const models::Model& model, const std::string& key) const {
  using torch::indexing::Slice;
  return model.from_model(outputs.at(key))
      .index({Slice(), Slice(), Slice(0, height), Slice(0, width)})
      .clamp(0, 1)
      .to(torch::kCPU, torch::kFloat);
}

namespace {

// The sample's input as the model takes it: padded to its size multiple, in model space, in its
// dtype (fp32, or fp64 for a model trained with train.precision = "fp64"); the model routed to
// the sample's task.
torch::Tensor model_input(models::Model& model, const data::Sample& s, torch::Device device,
                          torch::MemoryFormat memory_format) {
  const int64_t multiple = std::max<int64_t>(1, model.spec().size_multiple);
  auto input = pad_to_multiple(s.input().unsqueeze(0).to(device, parameter_dtype(model)), multiple)
                   .contiguous(memory_format);
  if (auto* routed = dynamic_cast<models::TaskRouted*>(&model); routed && !s.task.empty()) routed->route(s.task);
  return model.to_model(input);
}

// "3.2 GiB", "180 MiB".
std::string bytes_text(double b) {
  const double mib = b / (1024.0 * 1024.0);
  return mib >= 1024 ? fmt::format("{:.1f} GiB", mib / 1024.0) : fmt::format("{:.0f} MiB", std::max(1.0, mib));
}

}  // namespace

Restoration restore_sample(models::Model& model, const data::Sample& s, const EvalOptions& opt, Footprint& fp) {
  const int64_t h = s.input().size(-2), w = s.input().size(-1);
  const int64_t m = std::max<int64_t>(1, model.spec().size_multiple);
  const int64_t hp = (h + m - 1) / m * m, wp = (w + m - 1) / m * m;
  try {
    if (opt.tiles) {  // asked for: no footprint needed
      Restoration r;
      r.height = h;
      r.width = w;
      r.outputs = restore_in_tiles(model, model_input(model, s, opt.device, opt.memory_format), *opt.tiles);
      r.tiles = opt.tiles;
      return r;
    }
    if (!fp.measured) {
      fp = measure_footprint(model, opt.device, parameter_dtype(model), opt.memory_format);
      fp.measured = true;
    }
    const double budget = opt.memory_budget > 0 ? opt.memory_budget : static_cast<double>(available_memory());
    const double need = fp.bytes(hp, wp) * kMemoryMargin;
    if (fp.known && need > budget) {
      const auto plan = plan_tiles(fp, model.spec(), hp, wp, budget);
      if (!plan)
        throw DataError(fmt::format(
            "sample '{}' ({}x{} px): restoring it needs about {}, more than the {} this process may use "
            "(runtime.memory_gb, else the memory free){}",
            s.id, w, h, bytes_text(need), bytes_text(budget),
            model.spec().receptive_radius < 0
                ? "; the model has operations over the whole image (global pooling or normalisation), so it is not "
                  "restored in tiles: crop or downscale the image"
                : "; not even its smallest tile fits"));
      Restoration r;
      r.height = h;
      r.width = w;
      r.outputs = restore_in_tiles(model, model_input(model, s, opt.device, opt.memory_format), *plan);
      r.tiles = *plan;
      return r;
    }
    return run_sample(model, s, opt.device, opt.memory_format);
  } catch (const c10::Error& e) {
    const std::string what = e.what();
    if (what.find("can't allocate memory") == std::string::npos && what.find("out of memory") == std::string::npos)
      throw;
    throw DataError(fmt::format("sample '{}' ({}x{} px): out of memory while restoring it ({})", s.id, w, h,
                                what.substr(0, what.find('\n'))));
  }
}

double memory_budget(const Config& cfg) {
  return cfg.get_float("runtime.memory_gb") * 1024.0 * 1024.0 * 1024.0;
}

Restoration run_sample(models::Model& model, const data::Sample& s, torch::Device device,
                       torch::MemoryFormat memory_format) {
  Restoration r;
  r.height = s.input().size(-2);
  r.width = s.input().size(-1);
  r.outputs = model.forward(model_input(model, s, device, memory_format));
  return r;
}

namespace {

// Sums of the per-image metrics over samples first, first + stride, ... < n.
EvalResult accumulate(models::Model& model, const data::Dataset& dataset, const metrics::Spec& spec,
                      const EvalOptions& opt, int64_t n, int64_t first, int64_t stride, bool save) {
  // Inference mode: no autograd bookkeeping at all (faster than no_grad); fp32 whatever the
  // training precision; no cuDNN algorithm search, since benchmark images differ in size.
  c10::InferenceMode inference;
  const bool benchmark = compat::cudnn_benchmark();
  compat::set_cudnn_benchmark(false);
  struct Restore {
    bool on;
    ~Restore() { compat::set_cudnn_benchmark(on); }
  } restore{benchmark};
  const bool was_training = model.is_training();
  model.eval();
  EvalResult r;
  r.dataset = dataset.name();
  r.preset = spec.name;
  r.spec = spec.describe();
  // A task-routed model (MBN) takes each sample's task path (run_sample), and its route is
  // restored after.
  auto* routed = dynamic_cast<models::TaskRouted*>(&model);
  struct RestoreRoute {
    models::TaskRouted* m;
    std::string task;
    ~RestoreRoute() {
      if (m) m->route(task);
    }
  } restore_route{routed, routed ? routed->routed() : ""};
  auto footprint = opt.footprint ? opt.footprint : std::make_shared<Footprint>();
  for (int64_t i = first; i < n; i += stride) {
    if (opt.stop && opt.stop()) {
      r.interrupted = true;
      break;
    }
    data::Sample s;
    Restoration rest;
    try {
      s = dataset.get(static_cast<size_t>(i), 0);
      rest = restore_sample(model, s, opt, *footprint);
    } catch (const DataError& e) {
      if (!opt.skip_bad) throw;
      ++r.skipped;
      r.skipped_messages.push_back(e.what());
      continue;
    } catch (const IoError& e) {
      if (!opt.skip_bad) throw;
      ++r.skipped;
      r.skipped_messages.push_back(e.what());
      continue;
    }
    if (rest.tiles) ++r.tiled;
    const auto& out = rest.outputs;
    const auto image = [&](const std::string& key) { return rest.image(model, key); };
    auto b = image(model.spec().primary);
    const auto q = metrics::assess(b[0], s.at(data::field::background), spec);
    const auto q0 = metrics::assess(s.input(), s.at(data::field::background), spec);
    r.psnr += q.psnr;
    r.ssim += q.ssim;
    r.psnr_input += q0.psnr;
    r.ssim_input += q0.ssim;
    ++r.samples;
    ImageScore score{s.id, q.psnr, q.ssim, q0.psnr, q0.ssim, "", i};
    if (save && !opt.save_dir.empty() && (opt.save_count < 0 || i < opt.save_count)) {
      // Under the sample's own name: <save_dir>/<kind>/<id> (saved_name).
      const auto name = saved_name(s.id, i, dataset.name());
      const auto at = [&](const std::string& kind) { return (opt.save_dir / kind / name).string(); };  // write_image makes the folders
      score.output = at("output");
      data::write_image(at("input"), data::to_mat(s.input().clamp(0, 1)));
      data::write_image(score.output, data::to_mat(b[0]));
      data::write_image(at("gt"), data::to_mat(s.at(data::field::background)));
      // The model's other image outputs (DMGN: the noise layer R, the coarse background).
      for (const auto& d : model.spec().outputs)
        if (d.kind == models::OutputDecl::Kind::image && !d.list && d.key != model.spec().primary && out.has(d.key))
          data::write_image(at(d.key), data::to_mat(image(d.key)[0]));
    }
    r.images.push_back(std::move(score));
  }
  if (was_training) model.train();
  return r;
}

int64_t sample_count(const data::Dataset& dataset, const EvalOptions& opt) {
  int64_t n = static_cast<int64_t>(dataset.size());
  if (opt.max_samples > 0) n = std::min(n, opt.max_samples);
  if (n == 0) throw DataError(fmt::format("dataset '{}' has no samples to evaluate", dataset.name()));
  return n;
}

void to_means(EvalResult& r) {
  if (r.samples == 0)
    throw DataError(fmt::format("dataset '{}': every sample was skipped as bad ({} skipped); the first: {}",
                                r.dataset, r.skipped,
                                r.skipped_messages.empty() ? "?" : r.skipped_messages.front()));
  const double dn = static_cast<double>(r.samples);
  r.psnr /= dn;
  r.ssim /= dn;
  r.psnr_input /= dn;
  r.ssim_input /= dn;
}

// Every rank's per-image scores on every rank, in sample order: the numbers by one all-reduce
// of an n x 5 table (a flag and four scores; each sample is scored on one rank) with the
// ranks' tiled counts, interrupted flags and skipped counts after it (`tiled`, `skipped`,
// `interrupted`: this rank's in, all ranks' out), the ids and saved outputs by one broadcast per rank.
std::vector<ImageScore> gather_images(Collective& c, const std::vector<ImageScore>& mine, int64_t n,
                                      int64_t& skipped, int64_t& tiled, bool& interrupted) {
  std::vector<double> table(static_cast<size_t>(n) * 5 + 3, 0.0);
  table[table.size() - 3] = static_cast<double>(tiled);
  table[table.size() - 2] = interrupted ? 1.0 : 0.0;
  table.back() = static_cast<double>(skipped);
  for (const auto& im : mine) {
    double* row = &table[static_cast<size_t>(im.index) * 5];
    row[0] = 1;
    row[1] = im.psnr;
    row[2] = im.ssim;
    row[3] = im.psnr_input;
    row[4] = im.ssim_input;
  }
  table = all_reduce_values(c, std::move(table));
  skipped = std::llround(table.back());
  interrupted = table[table.size() - 2] > 0.5;
  tiled = std::llround(table[table.size() - 3]);
  std::vector<std::string> ids(static_cast<size_t>(n)), outputs(static_cast<size_t>(n));
  for (int root = 0; root < c.world_size(); ++root) {
    std::string text;  // "index\tid\toutput\n" per image of rank `root`
    if (c.rank() == root)
      for (const auto& im : mine) text += fmt::format("{}\t{}\t{}\n", im.index, im.id, im.output);
    broadcast_string(c, text, root);
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
      const auto a = line.find('\t'), b = line.find('\t', a + 1);
      const auto i = static_cast<size_t>(std::stoll(line.substr(0, a)));
      ids.at(i) = line.substr(a + 1, b - a - 1);
      outputs.at(i) = line.substr(b + 1);
    }
  }
  std::vector<ImageScore> all;
  for (int64_t i = 0; i < n; ++i) {
    const double* row = &table[static_cast<size_t>(i) * 5];
    if (row[0] < 0.5) continue;  // skipped as bad
    all.push_back({ids[static_cast<size_t>(i)], row[1], row[2], row[3], row[4], outputs[static_cast<size_t>(i)], i});
  }
  return all;
}

}  // namespace

EvalResult evaluate(models::Model& model, const data::Dataset& dataset, const metrics::Spec& spec,
                    const EvalOptions& opt) {
  const int64_t n = sample_count(dataset, opt);
  EvalResult r = accumulate(model, dataset, spec, opt, n, 0, 1, true);
  if (!r.interrupted) to_means(r);
  return r;
}

EvalResult evaluate(models::Model& model, const data::Dataset& dataset, const metrics::Spec& spec,
                    const EvalOptions& opt, Collective& c) {
  if (c.world_size() == 1) return evaluate(model, dataset, spec, opt);
  const int64_t n = sample_count(dataset, opt);
  EvalResult r = accumulate(model, dataset, spec, opt, n, c.rank(), c.world_size(), c.rank() == 0);
  r.images = gather_images(c, r.images, n, r.skipped, r.tiled, r.interrupted);
  if (r.interrupted) return r;
  // The sums in sample order, as a single process adds them.
  r.psnr = r.ssim = r.psnr_input = r.ssim_input = 0;
  for (const auto& im : r.images) {
    r.psnr += im.psnr;
    r.ssim += im.ssim;
    r.psnr_input += im.psnr_input;
    r.ssim_input += im.ssim_input;
  }
  r.samples = static_cast<int64_t>(r.images.size());
  to_means(r);
  return r;
}

std::filesystem::path saved_name(const std::string& id_in, int64_t index, const std::string& dataset) {
  const std::string prefix = dataset + "/";
  const std::string id = !dataset.empty() && id_in.rfind(prefix, 0) == 0 ? id_in.substr(prefix.size()) : id_in;
  std::filesystem::path p = std::filesystem::path(id).lexically_normal();
  const bool usable = !id.empty() && p.is_relative() && *p.begin() != "..";
  if (!usable) p = fmt::format("{:03d}", index);
  static const std::set<std::string> kWritable = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"};
  if (!kWritable.count(data::lower_extension(p))) p += ".png";
  return p;
}

void write_scores_csv(const EvalResult& r, const std::filesystem::path& file) {
  std::filesystem::create_directories(file.parent_path().empty() ? std::filesystem::path(".") : file.parent_path());
  std::ofstream f(file);
  f << "image,psnr,ssim,psnr_input,ssim_input,output\n";
  for (const auto& i : r.images)
    f << csv_field(i.id) << fmt::format(",{:.6f},{:.6f},{:.6f},{:.6f},", i.psnr, i.ssim, i.psnr_input, i.ssim_input)
      << csv_field(i.output) << "\n";
  if (!f) throw IoError(fmt::format("cannot write '{}'", file.string()));
}

bool same_data(const store::Evaluation& e, const data::Dataset& dataset) {
  for (const auto& [k, v] : dataset.provenance())
    if (e.provenance.find(k + "=" + v) == std::string::npos) return false;
  return true;
}

Convention metric_convention(const Config& cfg, const data::Dataset& dataset) {
  std::string task = dataset.task();
  if (task.empty()) task = data::dataset_task(cfg, dataset.name());
  return metric_convention(cfg, dataset.name(), task);
}

Convention metric_convention(const Config& cfg, const std::string& dataset, const std::string& task_in) {
  const std::string task = task_in.empty() ? data::dataset_task(cfg, dataset) : task_in;
  Convention c;
  c.spec = metrics::spec_from_config(cfg, task);
  const std::string name = cfg.get_string("eval.metric");
  if (name == "auto")
    c.why = fmt::format("eval.metric = auto: the {} convention, as '{}' is {} data", c.spec.name, dataset, task);
  else if (name == "custom")
    c.why = "eval.metric = custom: the [eval.custom] keys of the system's config";
  else if (c.spec.name != name)
    c.why = fmt::format("eval.metric = {} of the system's config, its {} form on {} data ('{}')", name, c.spec.name,
                        task, dataset);
  else
    c.why = fmt::format("eval.metric = {} of the system's config (its paper's convention, on any data)", name);
  return c;
}

store::Evaluation evaluation_record(const EvalResult& r, const data::Dataset& dataset) {
  store::Evaluation e;
  e.dataset = r.dataset;
  e.preset = r.preset;
  e.samples = r.samples;
  e.skipped = r.skipped;
  e.psnr = r.psnr;
  e.ssim = r.ssim;
  e.psnr_input = r.psnr_input;
  e.ssim_input = r.ssim_input;
  std::vector<std::string> prov{fmt::format("metric_spec=\"{}\"", r.spec)};
  for (const auto& [k, v] : dataset.provenance()) prov.push_back(k + "=" + v);
  prov.push_back(fmt::format("grayscale_converted={}", dataset.converted_files()));
  if (r.tiled > 0) prov.push_back(fmt::format("tiled_samples={}", r.tiled));
  e.provenance = fmt::format("{}", fmt::join(prov, " "));
  return e;
}

std::vector<store::EvalImage> image_records(const EvalResult& r) {
  std::vector<store::EvalImage> images;
  for (const auto& i : r.images) images.push_back({i.id, i.psnr, i.ssim, i.psnr_input, i.ssim_input, i.output});
  return images;
}

}  // namespace dmgn::train
