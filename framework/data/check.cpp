#include "data/check.h"

#include <fmt/format.h>
#include <fmt/ranges.h>  // fmt::join (its home since fmt 11)

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include "core/error.h"
#include "core/log.h"
#include "data/benchmarks.h"

namespace dmgn::data {

int64_t DatasetCheck::problems() const {
  int64_t n = error.empty() ? 0 : 1;
  for (const auto& i : issues) n += i.fatal() ? 1 : 0;
  return n;
}

int64_t DatasetCheck::converted() const {
  return std::count_if(issues.begin(), issues.end(), [](const DataIssue& i) { return !i.fatal(); });
}

std::string count_by_kind(const std::vector<DataIssue>& issues, bool fatal_only) {
  std::map<std::string, int64_t> counts;
  for (const auto& i : issues)
    if (!fatal_only || i.fatal()) ++counts[i.kind];
  std::vector<std::string> parts;
  for (const auto& [k, n] : counts) parts.push_back(fmt::format("{} {}", n, k));
  return fmt::format("{}", fmt::join(parts, ", "));
}

namespace {

// Every sample's problems, read by `threads` threads; returned in index order.
std::vector<DataIssue> check_samples(const Dataset& ds, size_t count, int threads) {
  std::vector<std::vector<DataIssue>> per(count);
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next++; i < count; i = next++) per[i] = ds.check(i);
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < std::max(1, threads); ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  std::vector<DataIssue> out;
  std::set<std::string> noted;  // a grey ground truth shared by ten hazy images: one note
  for (auto& v : per)
    for (auto& i : v)
      if (i.fatal() || noted.insert(i.file).second) out.push_back(std::move(i));
  return out;
}

}  // namespace

std::vector<DatasetCheck> check_datasets(const Config& cfg, const std::vector<std::string>& names, int threads,
                                         const std::function<void(const DatasetCheck&)>& on_dataset,
                                         int64_t min_side, const std::string& min_side_why,
                                         int64_t max_pixels, const std::string& max_pixels_why) {
  Config skipping = cfg;
  skipping.set("data.on_bad_sample=\"skip\"");
  std::vector<std::pair<std::string, Split>> splits;  // (dataset, split) to check, each once
  const auto add = [&](const std::string& n, Split s) {
    if (std::find(splits.begin(), splits.end(), std::pair{n, s}) == splits.end()) splits.emplace_back(n, s);
  };
  if (names.empty()) {
    add(cfg.get_string("data.train"), Split::train);
    add(cfg.get_string("data.val"), Split::heldout);
    for (const auto& t : cfg.get_strings("data.test")) add(t, Split::heldout);
  } else {
    for (const auto& n : names) {
      add(n, Split::heldout);
      if (!is_benchmark(cfg, n)) {
        add(n, Split::train);
        continue;
      }
      // A benchmark's train split where it has one: a shipped entry whose train folder is not
      // here (test data only) is checked for testing, with a word.
      const auto e = BenchmarkEntry::from_config(cfg, n);
      if (e.train_root.empty()) continue;
      std::error_code ec;
      const auto train_root = e.split_root(Split::train);
      if (std::filesystem::exists(train_root, ec))
        add(n, Split::train);
      else
        log::info(fmt::format("dataset '{}': no train split at '{}' (needed only to train on it): checking the "
                              "test split",
                              n, train_root.string()));
    }
  }
  std::vector<DatasetCheck> out;
  for (const auto& [name, split] : splits) {
    DatasetCheck c;
    c.name = name;
    c.split = split;
    try {
      const DatasetPtr ds = open_dataset(skipping, name, split);
      ds->require_min_side(min_side, min_side_why);
      ds->note_max_pixels(max_pixels, max_pixels_why);
      c.samples = ds->size();
      const auto prov = ds->provenance();
      const auto get = [&](const char* k) { return prov.count(k) ? prov.at(k) : std::string(); };
      const bool real = get("dataset") == "real";
      c.source = real ? fmt::format("{}, layout {}", get("root"), get("layout"))
                      : fmt::format("{} ({})", get("dataset"), get("root"));
      c.issues = ds->listing_issues();
      const auto sampled = check_samples(*ds, real ? ds->size() : std::min<size_t>(1, ds->size()), threads);
      c.issues.insert(c.issues.end(), sampled.begin(), sampled.end());
    } catch (const std::exception& e) {
      c.error = e.what();
    }
    if (on_dataset) on_dataset(c);
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace dmgn::data
