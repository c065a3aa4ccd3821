#include "data/paired.h"

#include <fmt/format.h>
#include <fmt/ranges.h>  // fmt::join (its home since fmt 11)

#include <algorithm>
#include <cctype>
#include <regex>

#include "core/error.h"
#include "core/rng.h"
#include "data/image_files.h"
#include "data/image_io.h"

namespace dmgn::data {

namespace fs = std::filesystem;

namespace {

// Input and ground truth of different sizes (check() reports it as "size_mismatch").
struct SizeMismatch : DataError {
  using DataError::DataError;
};

const std::set<std::string> kImageExtensions = {".png", ".jpg",  ".jpeg", ".bmp",
                                                ".tif", ".tiff", ".webp"};

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

bool is_image(const fs::path& p) { return kImageExtensions.count(lower(p.extension().string())) > 0; }

fs::path sub_dir(const fs::path& root, const std::string& dir) { return dir.empty() ? root : root / dir; }

std::string rel(const fs::path& p, const fs::path& root) {
  return fs::relative(p, root).generic_string();
}

void require_dir(const fs::path& dir, const std::string& what) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw IoError(fmt::format("{} '{}' does not exist or is not a folder", what, dir.string()));
}

// Entries of a listed folder that are broken links: path -> the "bad_link" issue naming it.
using BrokenLinks = std::map<fs::path, DataIssue>;

// Regular files of `dir` (not recursive) and its broken links (added to `broken` too), in
// natural order of their names: a broken link is a would-be file the caller reports.
std::vector<fs::path> files_in(const fs::path& dir, BrokenLinks& broken) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const EntryType type = entry_type(*it);
    if (!type.broken.empty()) {
      broken.emplace(it->path(), DataIssue{"bad_link", it->path().string(), broken_message(it->path(), type)});
      out.push_back(it->path());
    } else if (type.file) {
      out.push_back(it->path());
    }
  }
  if (ec) throw IoError(fmt::format("cannot list folder '{}': {}", dir.string(), ec.message()));
  std::sort(out.begin(), out.end(), [](const fs::path& a, const fs::path& b) {
    return natural_less(a.filename().string(), b.filename().string());
  });
  return out;
}

// {N} -> capture group N.
std::string expand(const std::string& tmpl, const std::smatch& m) {
  std::string out;
  for (size_t i = 0; i < tmpl.size(); ++i) {
    if (tmpl[i] == '{') {
      const size_t close = tmpl.find('}', i);
      if (close != std::string::npos) {
        const std::string num = tmpl.substr(i + 1, close - i - 1);
        if (!num.empty() && std::all_of(num.begin(), num.end(), ::isdigit)) {
          const size_t g = std::stoul(num);
          if (g < m.size()) {
            out += m[g].str();
            i = close;
            continue;
          }
        }
      }
    }
    out += tmpl[i];
  }
  return out;
}

std::regex compile(const std::string& pattern, const std::string& what) {
  try {
    return std::regex(pattern, std::regex::ECMAScript | std::regex::icase);
  } catch (const std::regex_error& e) {
    throw ConfigError(fmt::format("{}: invalid regular expression '{}': {}", what, pattern, e.what()));
  }
}

// Looks `name` up among `files` (a ".*" suffix matches any image extension); case-insensitive.
const fs::path* find_target(const std::map<std::string, fs::path>& by_name,
                            const std::map<std::string, fs::path>& by_stem, const std::string& name) {
  const bool any_ext = name.size() > 2 && name.compare(name.size() - 2, 2, ".*") == 0;
  const auto& index = any_ext ? by_stem : by_name;
  const auto it = index.find(lower(any_ext ? name.substr(0, name.size() - 2) : name));
  return it == index.end() ? nullptr : &it->second;
}

Listing list_folders(const fs::path& root, const PairRule& rule) {
  Listing out;
  out.rule = rule;
  const fs::path in_dir = sub_dir(root, rule.input_dir), gt_dir = sub_dir(root, rule.target_dir);
  require_dir(in_dir, "input folder");
  require_dir(gt_dir, "ground-truth folder");
  const std::regex pattern = compile(rule.input_pattern, "input_pattern");
  BrokenLinks broken;
  std::map<std::string, fs::path> by_name, by_stem;
  for (const auto& f : files_in(gt_dir, broken)) {
    if (!is_image(f)) continue;
    by_name.emplace(lower(f.filename().string()), f);
    by_stem.emplace(lower(f.stem().string()), f);
  }
  std::set<fs::path> used;
  std::vector<fs::path> unmatched;
  for (const auto& f : files_in(in_dir, broken)) {
    if (!is_image(f)) continue;
    const std::string name = f.filename().string();
    std::smatch m;
    if (!std::regex_match(name, m, pattern)) {
      unmatched.push_back(f);
      continue;
    }
    const std::string want = expand(rule.target_name, m);
    const fs::path* target = find_target(by_name, by_stem, want);
    if (target) used.insert(*target);  // its own input's, even when that input is left out
    if (const auto b = broken.find(f); b != broken.end()) {
      used.insert(f);
      out.missing.push_back(b->second);
      continue;
    }
    if (!target) {
      out.missing.push_back({"unpaired", f.string(),
                            fmt::format("'{}' has no ground truth (expected '{}')", f.string(),
                                        (gt_dir / want).string())});
      continue;
    }
    if (const auto b = broken.find(*target); b != broken.end()) {
      out.missing.push_back({"bad_link", target->string(),
                            fmt::format("ground truth of '{}': {}", f.string(), b->second.message)});
      continue;
    }
    out.pairs.push_back({f, *target, rel(f, root), m.size() > 1 ? m[1].str() : f.stem().string()});
  }
  // Images that play no part: in a shared folder the ground truths are expected there.
  const auto unused = [&](const fs::path& f, std::string message) {
    const auto b = broken.find(f);
    out.issues.push_back(b == broken.end() ? DataIssue{"unpaired", f.string(), std::move(message)} : b->second);
  };
  for (const auto& f : unmatched)
    if (!used.count(f))
      unused(f, fmt::format("'{}' matches no input pattern '{}' of layout '{}'", f.string(), rule.input_pattern,
                            rule.name));
  for (const auto& [name, f] : by_name)
    if (!used.count(f) && !(in_dir == gt_dir && std::regex_match(f.filename().string(), pattern)) &&
        std::find(unmatched.begin(), unmatched.end(), f) == unmatched.end())
      unused(f, fmt::format("ground truth '{}' belongs to no input", f.string()));
  return out;
}

Listing list_recursive(const fs::path& root, const PairRule& rule) {
  Listing out;
  out.rule = rule;
  require_dir(root, "dataset root");
  // The iterator does not descend into linked folders (no follow_directory_symlink), so a link
  // loop cannot make it run forever; a linked folder is listed itself (one level) unless its
  // target is listed already.
  std::vector<fs::path> dirs{root}, linked;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    const EntryType type = entry_type(*it);
    if (type.folder) (type.link ? linked : dirs).push_back(it->path());
  }
  if (ec) throw IoError(fmt::format("cannot list folder '{}': {}", root.string(), ec.message()));
  const auto by_name_order = [](const fs::path& a, const fs::path& b) {
    return natural_less(a.generic_string(), b.generic_string());
  };
  const auto real_path = [](const fs::path& p) {
    std::error_code err;
    const fs::path c = fs::canonical(p, err);
    return err ? p : c;
  };
  std::set<fs::path> listed;
  for (const auto& d : dirs) listed.insert(real_path(d));
  std::sort(linked.begin(), linked.end(), by_name_order);
  for (const auto& l : linked) {
    const fs::path target = real_path(l);
    if (listed.insert(target).second) {
      dirs.push_back(l);
      continue;
    }
    out.issues.push_back({"bad_link", l.string(),
                          fmt::format("'{}' links to folder '{}', which is listed already (not listed twice)",
                                      l.string(), target.string())});
  }
  std::sort(dirs.begin(), dirs.end(), by_name_order);
  const std::regex pattern = compile(rule.input_pattern, "input_pattern");
  for (const auto& d : dirs) {
    std::map<std::string, fs::path> by_name, by_stem;
    BrokenLinks broken;
    const auto files = files_in(d, broken);
    for (const auto& f : files)
      if (is_image(f)) {
        by_name.emplace(lower(f.filename().string()), f);
        by_stem.emplace(lower(f.stem().string()), f);
      }
    for (const auto& f : files) {
      if (!is_image(f)) continue;
      std::smatch m;
      const std::string name = f.filename().string();
      if (!std::regex_match(name, m, pattern)) continue;
      if (const auto b = broken.find(f); b != broken.end()) {
        out.missing.push_back(b->second);
        continue;
      }
      const std::string want = expand(rule.target_name, m);
      const fs::path* target = find_target(by_name, by_stem, want);
      if (!target) {
        out.missing.push_back({"unpaired", f.string(),
                              fmt::format("'{}' has no ground truth (expected '{}' beside it)",
                                          f.string(), want)});
        continue;
      }
      if (const auto b = broken.find(*target); b != broken.end()) {
        out.missing.push_back({"bad_link", target->string(),
                              fmt::format("ground truth of '{}': {}", f.string(), b->second.message)});
        continue;
      }
      out.pairs.push_back({f, *target, rel(f, root), m.size() > 1 ? m[1].str() : f.stem().string()});
    }
  }
  return out;
}

Listing list_hdf5(const fs::path& root, const PairRule& rule) {
  Listing out;
  out.rule = rule;
  const fs::path dir = sub_dir(root, rule.input_dir);
  require_dir(dir, "HDF5 folder");
  BrokenLinks broken;
  for (const auto& f : files_in(dir, broken))
    if (lower(f.extension().string()) == ".h5" || lower(f.extension().string()) == ".hdf5") {
      if (const auto b = broken.find(f); b != broken.end())
        out.missing.push_back(b->second);
      else
        out.pairs.push_back({f, f, rel(f, root), f.stem().string()});
    }
  return out;
}

}  // namespace

std::string PairRule::describe() const {
  if (recursive)
    return fmt::format("{}: every folder, {} -> {} beside it", name, input_pattern, target_name);
  if (hdf5)
    return fmt::format("{}: {}*.h5 with datasets '{}' -> '{}'", name,
                       input_dir.empty() ? "" : input_dir + "/", input_pattern, target_name);
  return fmt::format("{}: {}/ {} -> {}/ {}", name, input_dir.empty() ? "." : input_dir, input_pattern,
                     target_dir.empty() ? "." : target_dir, target_name);
}

bool natural_less(const std::string& a, const std::string& b) {
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (std::isdigit(static_cast<unsigned char>(a[i])) && std::isdigit(static_cast<unsigned char>(b[j]))) {
      size_t ie = i, je = j;
      while (ie < a.size() && std::isdigit(static_cast<unsigned char>(a[ie]))) ++ie;
      while (je < b.size() && std::isdigit(static_cast<unsigned char>(b[je]))) ++je;
      // Compare by value: strip leading zeros, then length, then digits.
      size_t is = i, js = j;
      while (is + 1 < ie && a[is] == '0') ++is;
      while (js + 1 < je && b[js] == '0') ++js;
      if (ie - is != je - js) return ie - is < je - js;
      const int c = a.compare(is, ie - is, b, js, je - js);
      if (c != 0) return c < 0;
      if (ie - i != je - j) return ie - i < je - j;  // "01" after "1"
      i = ie;
      j = je;
      continue;
    }
    const auto ca = std::tolower(static_cast<unsigned char>(a[i]));
    const auto cb = std::tolower(static_cast<unsigned char>(b[j]));
    if (ca != cb) return ca < cb;
    ++i;
    ++j;
  }
  if (a.size() - i != b.size() - j) return a.size() - i < b.size() - j;
  return a < b;
}

Listing list_pairs(const fs::path& root, const PairRule& rule) {
  if (rule.recursive) return list_recursive(root, rule);
  if (rule.hdf5) return list_hdf5(root, rule);
  return list_folders(root, rule);
}

Listing list_pairs_auto(const fs::path& root, const std::vector<PairRule>& rules,
                        const std::string& dataset) {
  require_dir(root, fmt::format("dataset '{}': root", dataset));
  std::vector<std::string> tried;
  for (const auto& rule : rules) {
    try {
      Listing l = list_pairs(root, rule);
      if (!l.pairs.empty()) return l;
      tried.push_back(rule.describe() + " (no pairs)");
    } catch (const IoError&) {
      tried.push_back(rule.describe() + " (folders missing)");
    }
  }
  throw IoError(fmt::format("dataset '{}': no known layout under '{}'; tried {}", dataset,
                            root.string(), fmt::join(tried, "; ")));
}

// ---- PairedDataset ----------------------------------------------------------------------

PairedDataset::PairedDataset(Listing listing, PairedOptions options)
    : listing_(std::move(listing)), options_(std::move(options)) {
  if (listing_.pairs.empty())
    throw DataError(fmt::format("dataset '{}' ({}): no pairs to use", options_.name,
                                split_name(options_.split)));
}

PairedDataset::Loaded PairedDataset::load(const PairedFile& f) const {
  Loaded l;
  if (listing_.rule.hdf5) {
    std::tie(l.input, l.target) =
        read_hdf5_pair(f.input, listing_.rule.input_pattern, listing_.rule.target_name);
  } else {
    ImageInfo in_info, gt_info;
    l.input = read_image(f.input, &in_info);
    l.target = read_image(f.target, &gt_info);
    for (const auto& [info, path] : {std::pair{&in_info, &f.input}, std::pair{&gt_info, &f.target}})
      if (info->channels == 1 || info->channels == 2)
        l.notes.push_back({"grayscale", path->string(),
                           fmt::format("'{}' is grey; converted to RGB", path->string())});
  }
  if (listing_.rule.crop_target && l.target.cols >= l.input.cols && l.target.rows >= l.input.rows &&
      l.target.size() != l.input.size()) {
    const cv::Rect box((l.target.cols - l.input.cols) / 2, (l.target.rows - l.input.rows) / 2,
                       l.input.cols, l.input.rows);
    l.target = l.target(box).clone();
  }
  if (l.input.size() != l.target.size())
    throw SizeMismatch(fmt::format("sample '{}': input '{}' is {}x{} but ground truth '{}' is {}x{}", f.id,
                                   f.input.string(), l.input.cols, l.input.rows, f.target.string(),
                                   l.target.cols, l.target.rows));
  return l;
}

void PairedDataset::note_converted(const std::vector<DataIssue>& notes) const {
  if (notes.empty()) return;
  std::lock_guard<std::mutex> lock(converted_mutex_);
  for (const auto& n : notes) converted_.insert(n.file);
}

int64_t PairedDataset::converted_files() const {
  std::lock_guard<std::mutex> lock(converted_mutex_);
  return static_cast<int64_t>(converted_.size());
}

Sample PairedDataset::make(size_t index, uint64_t epoch) const {
  if (index >= size())
    throw DataError(fmt::format("dataset '{}': sample index {} out of range (size {})", options_.name,
                                index, size()));
  const PairedFile& f = listing_.pairs[index];
  Loaded l = load(f);
  note_converted(l.notes);
  cv::Mat input = l.input, target = l.target;
  if (options_.split == Split::train) {
    Rng rng(derive_seed(options_.seed, "paired:" + options_.name, epoch * size() + index));
    try {
      auto out = augment({l.input, l.target}, options_.augment, rng);
      input = out[0];
      target = out[1];
    } catch (const DataError& e) {
      throw DataError(fmt::format("sample '{}' ('{}'): {}", f.id, f.input.string(), e.what()));
    }
  }
  const auto task = options_.provenance.find("task");
  return Sample(to_tensor(input), to_tensor(target), {}, options_.name + "/" + f.id,
                task == options_.provenance.end() ? "" : task->second);
}

std::vector<DataIssue> PairedDataset::listing_issues() const {
  auto out = listing_.missing;
  out.insert(out.end(), listing_.issues.begin(), listing_.issues.end());
  return out;
}

std::vector<DataIssue> PairedDataset::check(size_t index) const {
  const PairedFile& f = listing_.pairs.at(index);
  // The file at fault: the ground truth when the message quotes only it.
  const auto culprit = [&](const std::string& what) {
    const bool names_target = what.find("'" + f.target.string() + "'") != std::string::npos;
    const bool names_input = what.find("'" + f.input.string() + "'") != std::string::npos;
    return names_target && !names_input ? f.target.string() : f.input.string();
  };
  try {
    Loaded l = load(f);
    note_converted(l.notes);
    auto issues = l.notes;  // and what get() would refuse:
    if (const auto problem = size_problem(l.input.rows, l.input.cols, f.input.string()); !problem.empty())
      issues.push_back(DataIssue{"too_small", f.input.string(), problem});
    if (const auto problem = large_problem(l.input.rows, l.input.cols, f.input.string()); !problem.empty())
      issues.push_back(DataIssue{"too_large", f.input.string(), problem});
    return issues;
  } catch (const SizeMismatch& e) {
    return {DataIssue{"size_mismatch", f.input.string(), e.what()}};
  } catch (const DataError& e) {
    return {DataIssue{"undecodable", culprit(e.what()), e.what()}};
  } catch (const IoError& e) {
    return {DataIssue{"unreadable", culprit(e.what()), e.what()}};
  }
}

std::map<std::string, std::string> PairedDataset::provenance() const {
  auto p = options_.provenance;
  p["dataset"] = "real";
  p["name"] = options_.name;
  p["split"] = split_name(options_.split);
  p["layout"] = listing_.rule.name;
  p["samples"] = std::to_string(size());
  const auto count = [&](const char* kind) {
    const auto of_kind = [&](const DataIssue& i) { return i.kind == kind; };
    return std::to_string(std::count_if(listing_.missing.begin(), listing_.missing.end(), of_kind) +
                          std::count_if(listing_.issues.begin(), listing_.issues.end(), of_kind));
  };
  p["unpaired_files"] = count("unpaired");
  p["bad_links"] = count("bad_link");
  return p;
}

}  // namespace dmgn::data
