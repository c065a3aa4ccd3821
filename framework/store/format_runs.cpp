#include "store/format_runs.h"

#include <fmt/format.h>

#include <algorithm>
#include <optional>

#include "store/liveness.h"

namespace dmgn::store {

namespace {

constexpr const char* kDash = "–";

// Display width of UTF-8 text: counts code points (the listing holds no wide glyphs).
size_t display_width(const std::string& s) {
  return static_cast<size_t>(
      std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

// The last test metric `name` (highest step, then latest logged), optionally on `dataset`.
std::optional<Metric> last_test(const std::vector<Metric>& test, const std::string& name,
                                const std::string& dataset = "") {
  std::optional<Metric> best;
  for (const auto& m : test) {
    if (m.name != name || (!dataset.empty() && m.dataset != dataset)) continue;
    if (!best || m.step >= best->step) best = m;
  }
  return best;
}

// The flags that qualify a run's numbers (the full provenance stays in the store).
std::string provenance_flags(const RunRow& r) {
  static const char* kKeys[] = {"dataset",   "vgg_weights",     "epochs",        "world_size",
                                "metric_preset", "resumed_at_step", "skipped_steps"};
  std::string out;
  for (const char* key : kKeys) {
    const auto it = r.provenance.find(key);
    if (it == r.provenance.end()) continue;
    if (!out.empty()) out += ',';
    out += std::string(key) + '=' + it->second;
  }
  return out.empty() ? kDash : out;
}

std::string or_dash(const std::string& s) { return s.empty() ? kDash : s; }

}  // namespace

std::string format_runs(const std::vector<RunRow>& runs, const RunStore& store) {
  std::vector<std::vector<std::string>> rows = {{"ID", "STATUS", "EXPERIMENT/VARIANT", "TASK",
                                                 "STEPS", "TEST SET", "PSNR", "SSIM", "HASH",
                                                 "STARTED", "PROVENANCE"}};
  for (const auto& r : runs) {
    const auto test = store.metrics(r.id, "test");
    const auto psnr = last_test(test, "psnr");
    const auto ssim = last_test(test, "ssim", psnr ? psnr->dataset : "");
    std::string what = r.experiment;
    if (!r.variant.empty()) what += (what.empty() ? "" : "/") + r.variant;
    const auto steps = r.provenance.find("steps");
    rows.push_back({
        std::to_string(r.id),
        live_status(r),
        or_dash(what),
        or_dash(r.task),
        steps == r.provenance.end() ? kDash : steps->second,
        psnr ? or_dash(psnr->dataset) : (ssim ? or_dash(ssim->dataset) : kDash),
        psnr ? fmt::format("{:.2f}", psnr->value) : kDash,
        ssim ? fmt::format("{:.3f}", ssim->value) : kDash,
        or_dash(r.config_hash.substr(0, 12)),
        or_dash(r.started_at),
        provenance_flags(r),
    });
  }
  std::vector<size_t> width(rows.front().size(), 0);
  for (const auto& row : rows)
    for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], display_width(row[c]));

  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      line += row[c];
      if (c + 1 < row.size()) line += std::string(width[c] - display_width(row[c]) + 2, ' ');
    }
    out += line + '\n';
  }
  if (runs.empty()) out += "(no runs)\n";
  return out;
}

}  // namespace dmgn::store
