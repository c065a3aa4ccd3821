// dmgn board: the runs list, one run's page and its curves (board/views.h).
#include <fmt/format.h>
#include <toml++/toml.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "board/summary.h"
#include "store/liveness.h"

namespace dmgn::board {
namespace fs = std::filesystem;

namespace {

// Per dataset, the final numbers of a split: [{dataset, preset, step, psnr, ssim, ...}].
json scores_by_dataset(const std::vector<store::Metric>& final) {
  json out = json::array();
  std::map<std::string, size_t> at;
  for (const auto& m : final) {
    auto it = at.find(m.dataset);
    if (it == at.end()) {
      it = at.emplace(m.dataset, out.size()).first;
      out.push_back({{"dataset", m.dataset}, {"preset", m.preset}, {"step", m.step}});
    }
    auto& row = out[it->second];
    row[m.name] = finite_or_null(m.value);
    row["step"] = std::max(row["step"].get<int64_t>(), m.step);
  }
  return out;
}

std::string provenance_of(const store::RunRow& run, const char* key) {
  const auto it = run.provenance.find(key);
  return it == run.provenance.end() ? "" : it->second;
}

int64_t int_or(const std::string& text, int64_t fallback) {
  try {
    return text.empty() ? fallback : std::stoll(text);
  } catch (const std::exception&) {
    return fallback;
  }
}

store::RunRow the_run(const store::RunStore& store, int64_t run_id) {
  const auto run = store.run(run_id);
  if (!run) throw std::out_of_range(fmt::format("no run {} in {}", run_id, store.path().string()));
  return *run;
}

// A value as TOML text, floats in their shortest exact form (0.1, not 0.10000000000000001) so
// that the page shows the swept values as the sweep file wrote them.
std::string toml_text(const toml::node& node) {
  if (const auto* f = node.as_floating_point()) {
    std::string t = fmt::format("{}", f->get());
    if (t.find_first_of(".eEn") == std::string::npos) t += ".0";  // 1 -> 1.0; inf and nan as they are
    return t;
  }
  if (const auto* i = node.as_integer()) return fmt::format("{}", i->get());
  if (const auto* b = node.as_boolean()) return b->get() ? "true" : "false";
  if (const auto* s = node.as_string()) return json(s->get()).dump();  // a TOML basic string's escapes
  if (const auto* a = node.as_array()) {
    std::string t = "[";
    for (size_t k = 0; k < a->size(); ++k) t += (k ? ", " : "") + toml_text(*a->get(k));
    return t + "]";
  }
  std::ostringstream text;  // dates, times, inline tables: toml++'s own printing
  node.visit([&](const auto& leaf) { text << leaf; });
  return text.str();
}

void flatten(const toml::table& table, const std::string& prefix,
             std::vector<std::pair<std::string, std::string>>& out) {
  for (const auto& [key, node] : table) {
    const std::string name = prefix.empty() ? std::string(key.str()) : prefix + "." + std::string(key.str());
    if (const auto* t = node.as_table()) {
      flatten(*t, name, out);
      continue;
    }
    out.emplace_back(name, toml_text(node));
  }
}

// A `dmgn visualize` dump: its manifest's per-sample images (plain file names of its folder).
void dump_images(const fs::path& manifest, std::vector<RunImage>& out) {
  std::ifstream f(manifest);
  if (!f) return;
  json m;
  try {
    m = json::parse(f);
  } catch (const json::exception&) {
    return;
  }
  if (!m.is_object() || !m.contains("samples") || !m["samples"].is_array()) return;
  const std::string group = fmt::format("dmgn visualize (step {}, {})", m.value("step", int64_t{0}),
                                        m.value("dataset", std::string("?")));
  for (const auto& s : m["samples"]) {
    if (!s.is_object()) continue;
    const std::string id = s.value("id", std::string("?"));
    // The figure's order (input, coarse, refined background, noise, target), then any other image.
    std::vector<std::string> keys = {"input", "coarse", "background", "noise", "target"};
    for (const auto& [key, value] : s.items())
      if (std::find(keys.begin(), keys.end(), key) == keys.end()) keys.push_back(key);
    for (const auto& key : keys) {
      if (!s.contains(key)) continue;
      const json& value = s[key];
      if (!value.is_string()) continue;
      const fs::path name = value.get<std::string>();
      // Only a file of the dump's own folder, named as visualize names them.
      if (name.extension() != ".png" || name.has_parent_path() || name.filename() != name) continue;
      const fs::path file = manifest.parent_path() / name;
      if (!fs::is_regular_file(file)) continue;
      std::string caption = id + " " + key;
      if (key == "background" && s.contains("psnr") && s["psnr"].is_number())
        caption += fmt::format(" (PSNR {:.2f})", s["psnr"].get<double>());
      out.push_back({file, group, caption});
    }
  }
}

}  // namespace

std::vector<std::pair<std::string, std::string>> flatten_config(const std::string& config_text) {
  std::vector<std::pair<std::string, std::string>> out;
  toml::table root;
  try {
    root = toml::parse(config_text);
  } catch (const toml::parse_error&) {
    return out;
  }
  root.erase("runtime");
  flatten(root, "", out);
  std::sort(out.begin(), out.end());
  return out;
}

json finite_or_null(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

json run_summary(const store::RunStore& store, const store::RunRow& run) {
  // The trainer logs it/s with every training row: its latest row is the run's latest step.
  int64_t step = 0;
  double rate = NAN;
  if (const auto last = store.last_metric(run.id, "train", "it_per_s")) {
    step = last->step;
    rate = last->value;
  } else if (const auto loss = store.last_metric(run.id, "train", "loss")) {
    step = loss->step;
  }
  const std::string status = store::live_status(run);
  const int64_t done_steps = int_or(provenance_of(run, "steps"), -1);
  if (done_steps >= 0 && status != "running") step = std::max(step, done_steps);
  const int64_t total = int_or(provenance_of(run, "total_steps"), done_steps);
  json j = {{"id", run.id},
            {"status", status},
            {"experiment", run.experiment},
            {"sweep", run.sweep},
            {"variant", run.variant},
            {"task", run.task},
            {"seed", run.seed},
            {"hash", run.config_hash.substr(0, 12)},
            {"started_at", run.started_at},
            {"finished_at", run.finished_at},
            {"world_size", run.world_size},
            {"device", run.device},
            {"step", step},
            {"total_steps", total >= 0 ? json(total) : json(nullptr)},
            {"it_per_s", finite_or_null(rate)},
            {"eta_s", nullptr},
            {"vgg_weights", provenance_of(run, "vgg_weights")},
            {"data", provenance_of(run, "dataset")},
            {"val", scores_by_dataset(store.final_metrics(run.id, "val"))},
            {"test", scores_by_dataset(store.final_metrics(run.id, "test"))}};
  if (status == "running" && total > step && std::isfinite(rate) && rate > 0)
    j["eta_s"] = static_cast<double>(total - step) / rate;
  return j;
}

json runs_view(const store::RunStore& store) {
  json out = json::array();
  for (const auto& run : store.runs()) out.push_back(run_summary(store, run));
  return {{"store", store.path().string()}, {"runs", out}};
}

json run_view(const store::RunStore& store, int64_t run_id) {
  const auto run = the_run(store, run_id);
  json j = run_summary(store, run);
  j["name"] = run.name;
  j["git_revision"] = run.git_revision;
  j["torch_version"] = run.torch_version;
  j["run_dir"] = run.run_dir;
  j["config_hash"] = run.config_hash;
  j["provenance"] = run.provenance;

  // The config, and how it differs from what most runs of its sweep have.
  json config = json::array();
  std::map<std::string, std::string> base;
  std::map<std::string, bool> varies;
  size_t sweep_runs = 0;
  if (!run.sweep.empty()) {
    store::RunFilter f;
    f.sweep = run.sweep;
    const auto spread = config_spread(store.runs(f));
    base = spread.common;
    varies = spread.varies;
    sweep_runs = spread.configs.size();
  }
  for (const auto& [key, value] : flatten_config(run.config_text)) {
    json row = {{"key", key}, {"value", value}};
    const auto b = base.find(key);
    if (sweep_runs > 1 && (b == base.end() || b->second != value || varies[key]))
      row["sweep_common"] = b == base.end() ? json(nullptr) : json(b->second);
    config.push_back(row);
  }
  j["config"] = config;
  j["sweep_runs"] = sweep_runs;

  json checkpoints = json::array();
  std::error_code ec;
  const fs::path dir = fs::path(run.run_dir) / "checkpoints";
  if (!run.run_dir.empty() && fs::is_directory(dir, ec)) {
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(dir, ec))
      if (e.is_regular_file(ec) && e.path().extension() == ".ckpt") files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (const auto& f : files)
      checkpoints.push_back({{"name", f.filename().string()}, {"bytes", fs::file_size(f, ec)}});
  }
  j["checkpoints"] = checkpoints;

  json evals = json::array();
  for (const auto& e : store.evaluations(run_id))
    evals.push_back({{"id", e.id}, {"origin", e.origin}, {"dataset", e.dataset}, {"preset", e.preset},
                     {"step", e.step}, {"samples", e.samples}, {"skipped", e.skipped},
                     {"psnr", e.psnr}, {"ssim", e.ssim}, {"psnr_input", e.psnr_input},
                     {"ssim_input", e.ssim_input}, {"checkpoint", fs::path(e.checkpoint).filename().string()},
                     {"created_at", e.created_at}});
  j["evaluations"] = evals;

  json images = json::array();
  const auto files = run_images(store, run_id);
  for (size_t k = 0; k < files.size(); ++k)
    images.push_back({{"k", k}, {"group", files[k].group}, {"caption", files[k].caption}});
  j["images"] = images;
  return j;
}

json curves_view(const store::RunStore& store, int64_t run_id) {
  the_run(store, run_id);
  std::map<std::string, std::vector<std::pair<int64_t, double>>> train, val;
  for (const auto& m : store.metrics(run_id, "train"))
    if (std::isfinite(m.value)) train[m.name].emplace_back(m.step, m.value);
  for (const auto& m : store.metrics(run_id, "val"))
    if (std::isfinite(m.value))
      val[m.dataset.empty() ? m.name : m.dataset + " " + m.name].emplace_back(m.step, m.value);
  // A long run's series thinned to every k-th point (its last kept), so that a page polling
  // every 2 s receives a few kB rather than megabytes; how many points it had is said.
  json thinned = json::object();
  const auto series = [&](const std::map<std::string, std::vector<std::pair<int64_t, double>>>& all) {
    json out = json::object();
    for (const auto& [name, points] : all) {
      const size_t stride = (points.size() + kMaxCurvePoints - 1) / kMaxCurvePoints;
      json kept = json::array();
      for (size_t i = 0; i < points.size(); ++i)
        if (i % stride == 0 || i + 1 == points.size()) kept.push_back({points[i].first, points[i].second});
      if (stride > 1) thinned[&all == &train ? "train " + name : "val " + name] = points.size();
      out[name] = std::move(kept);
    }
    return out;
  };
  return {{"train", series(train)}, {"val", series(val)}, {"thinned", thinned}};
}

// The first kImagesPerEvaluation samples of each evaluation that saved its outputs: the input,
// the output and the ground truth that evaluate() writes beside it (<dir>/{input,output,gt}/...).
std::vector<RunImage> run_images(const store::RunStore& store, int64_t run_id) {
  constexpr size_t kImagesPerEvaluation = 6;
  std::vector<RunImage> out;
  for (const auto& e : store.evaluations(run_id)) {
    const std::string group = fmt::format("{} {} (step {}, {})", e.origin == "train" ? "test" : e.origin, e.dataset,
                                          e.step, e.preset);
    size_t shown = 0;
    for (const auto& img : store.eval_images(e.id)) {
      if (shown == kImagesPerEvaluation) break;
      if (img.output.empty()) continue;
      // <dir>/output/<id> has <dir>/input/<id> and <dir>/gt/<id> beside it.
      const auto cut = img.output.rfind("/output/");
      const auto beside = [&](const char* part) -> fs::path {
        if (cut == std::string::npos) return {};
        return img.output.substr(0, cut) + "/" + part + img.output.substr(cut + 7);
      };
      const std::string in = fmt::format(" (PSNR {:.2f}, SSIM {:.3f})", img.psnr_input, img.ssim_input);
      const std::string out_scores = fmt::format(" (PSNR {:.2f}, SSIM {:.3f})", img.psnr, img.ssim);
      bool any = false;
      for (const auto& [file, part, scores] : {std::tuple{beside("input"), "input", in},
                                               std::tuple{fs::path(img.output), "output", out_scores},
                                               std::tuple{beside("gt"), "gt", std::string()}}) {
        std::error_code ec;
        if (file.empty() || !fs::is_regular_file(file, ec)) continue;
        out.push_back({file, group, img.image + " " + part + scores});
        any = true;
      }
      if (any) ++shown;
    }
  }
  for (const auto& a : store.artifacts(run_id))
    if (a.kind == "visualize") dump_images(a.path, out);
  return out;
}

}  // namespace dmgn::board
