// dmgn score OUT GT: PSNR/SSIM of saved outputs against ground truth under a metric convention
// (metrics/spec.h), e.g. to score other methods' results exactly as our own. OUT and GT are two
// image files or two folders whose images pair by file stem (x.png <-> x.jpg); an unpaired
// image, a stem used twice in one folder or a size mismatch is an error naming the file.
// Files that are not images (by extension) are listed as ignored, never skipped silently.
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <map>
#include <thread>

#include "cli/commands.h"
#include "core/error.h"
#include "data/image_files.h"
#include "data/image_io.h"
#include "metrics/psnr_ssim.h"

namespace dmgn::cli {
namespace {

namespace fs = std::filesystem;

struct Pair {
  std::string name;  // the file stem
  fs::path out, gt;
};

std::vector<Pair> pair_inputs(const fs::path& out, const fs::path& gt, std::vector<std::string>& ignored) {
  // Checked without throwing: a link loop is an IoError naming it, not a filesystem_error.
  const auto is_folder = [](const fs::path& p) {
    std::error_code ec;
    const fs::file_status st = fs::status(p, ec);
    if (st.type() == fs::file_type::none)
      throw IoError(fmt::format("'{}' cannot be read: {}", p.string(), ec.message()));
    if (!fs::exists(st)) throw IoError(fmt::format("'{}' does not exist", p.string()));
    return fs::is_directory(st);
  };
  const bool out_dir = is_folder(out), gt_dir = is_folder(gt);
  if (out_dir != gt_dir)
    throw DataError(fmt::format("'{}' is a {} but '{}' is a {}: give two images or two folders", out.string(),
                                out_dir ? "folder" : "file", gt.string(), gt_dir ? "folder" : "file"));
  if (!out_dir) return {{out.stem().string(), out, gt}};
  const auto outs = data::images_by_stem(out, ignored), gts = data::images_by_stem(gt, ignored);
  std::vector<Pair> pairs;
  for (const auto& [stem, path] : outs) {
    const auto it = gts.find(stem);
    if (it == gts.end())
      throw DataError(fmt::format("'{}' has no ground truth: no image with the stem '{}' in '{}'", path.string(),
                                  stem, gt.string()));
    pairs.push_back({stem, path, it->second});
  }
  for (const auto& [stem, path] : gts)
    if (!outs.count(stem))
      throw DataError(fmt::format("ground truth '{}' has no output: no image with the stem '{}' in '{}'",
                                  path.string(), stem, out.string()));
  if (pairs.empty()) throw DataError(fmt::format("no images in '{}' and '{}'", out.string(), gt.string()));
  return pairs;
}

metrics::Quality score_pair(const Pair& p, const metrics::Spec& spec) {
  const cv::Mat out = data::read_image(p.out), gt = data::read_image(p.gt);
  if (out.size() != gt.size())
    throw DataError(fmt::format("size mismatch: '{}' is {}x{} but '{}' is {}x{} (width x height)", p.out.string(),
                                out.cols, out.rows, p.gt.string(), gt.cols, gt.rows));
  return metrics::assess(data::to_tensor(out), data::to_tensor(gt), spec);
}

// Scores pairs[first, last) on `threads` threads; the first failing pair's error is rethrown.
void score_range(const std::vector<Pair>& pairs, size_t first, size_t last, const metrics::Spec& spec,
                 int threads, std::vector<metrics::Quality>& q) {
  std::atomic<size_t> next{first};
  std::vector<std::exception_ptr> errors(last - first);
  auto work = [&] {
    for (size_t i; (i = next++) < last;) {
      try {
        q[i] = score_pair(pairs[i], spec);
      } catch (...) {
        errors[i - first] = std::current_exception();
      }
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  for (const auto& e : errors)
    if (e) std::rethrow_exception(e);
}

}  // namespace

void add_score(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "score", "PSNR/SSIM of output images against ground truth (two images, or two folders paired by stem)");
  static std::string out, gt, metric, config;
  static std::vector<std::string> sets;
  cmd->add_option("out", out, "Output image, or a folder of images")->required();
  cmd->add_option("gt", gt, "Ground-truth image, or a folder of images paired with OUT by file stem")->required();
  cmd->add_option("--metric", metric,
                  "Convention: real20 | rain100 | sots | basicsr | skimage | basicsr_y | custom | auto "
                  "(default: the config's eval.metric, auto = by task.name)");
  cmd->add_option("--config", config, "Take eval.*, task.name and runtime.threads from this config");
  cmd->add_option("--set", sets, "Override key.path=value, e.g. eval.custom.crop_border=4 (repeatable)");
  cmd->callback([] {
    std::vector<std::string> overrides = sets;
    if (!metric.empty()) overrides.push_back("eval.metric=" + metric);
    const Config cfg = config.empty() ? Config::defaults(overrides) : load_config(config, overrides);
    const metrics::Spec spec = metrics::spec_from_config(cfg);
    std::vector<std::string> ignored;
    const auto pairs = pair_inputs(out, gt, ignored);
    int threads = static_cast<int>(cfg.get_int("runtime.threads"));
    if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    threads = std::min<int>(threads, static_cast<int>(pairs.size()));

    size_t width = 5;
    for (const auto& p : pairs) width = std::max(width, p.name.size());
    std::vector<metrics::Quality> q(pairs.size());
    double psnr = 0, ssim = 0;
    bool capped_any = false;
    const size_t chunk = 64;  // results print in order, one chunk at a time
    for (size_t first = 0; first < pairs.size(); first += chunk) {
      const size_t last = std::min(pairs.size(), first + chunk);
      score_range(pairs, first, last, spec, threads, q);
      if (first == 0) {  // after the first chunk: a bad pair there is the only output
        std::printf("metric %s\n", spec.describe().c_str());
        for (const auto& f : ignored) std::printf("ignored (not an image): %s\n", f.c_str());
        std::printf("%-*s %9s %9s\n", static_cast<int>(width), "image", "PSNR", "SSIM");
      }
      for (size_t i = first; i < last; ++i) {
        const bool capped = q[i].psnr >= metrics::kPsnrCap;
        std::printf("%-*s %9.4f %9.6f%s\n", static_cast<int>(width), pairs[i].name.c_str(), q[i].psnr, q[i].ssim,
                    capped ? "  (identical: PSNR capped)" : "");
        capped_any = capped_any || capped;
        psnr += q[i].psnr;
        ssim += q[i].ssim;
      }
      std::fflush(stdout);
    }
    const double n = static_cast<double>(pairs.size());
    std::printf("%-*s %9.4f %9.6f  (%zu image%s)\n", static_cast<int>(width), "mean", psnr / n, ssim / n,
                pairs.size(), pairs.size() == 1 ? "" : "s");
    if (capped_any)
      std::printf("PSNR of identical images is reported as %.0f dB (the cap; skimage and BasicSR give inf)\n",
                  metrics::kPsnrCap);
  });
}

}  // namespace dmgn::cli
