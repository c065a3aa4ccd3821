#include "report/paper_csv.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <set>

#include "core/error.h"

namespace dmgn::report {

namespace {

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return {};
  return s.substr(b, s.find_last_not_of(" \t\r") - b + 1);
}

[[noreturn]] void malformed(const std::filesystem::path& file, int line, const std::string& why) {
  throw DataError(fmt::format("{}:{}: {}", file.string(), line, why));
}

std::optional<double> parse_number(const std::string& field, const std::string& metric,
                                   const std::filesystem::path& file, int line) {
  if (field.empty() || field == "n/a") return std::nullopt;
  double v = 0;
  const auto* end = field.data() + field.size();
  const auto [ptr, ec] = std::from_chars(field.data(), end, v);
  if (ec != std::errc() || ptr != end || !std::isfinite(v))
    malformed(file, line, fmt::format("{} value '{}' is not a number", metric, field));
  return v;
}

template <class Key>
std::vector<std::string> unique_in_order(const std::vector<PaperRow>& rows, Key key) {
  std::vector<std::string> out;
  for (const auto& r : rows)
    if (std::find(out.begin(), out.end(), key(r)) == out.end()) out.push_back(key(r));
  return out;
}

}  // namespace

std::vector<std::string> split_csv_line(const std::string& line, const std::filesystem::path& file,
                                        int line_no) {
  std::vector<std::string> fields;
  std::string cur;
  bool quoted = false, was_quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        cur += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        cur += c;
      }
    } else if (c == '"' && trim(cur).empty()) {
      quoted = was_quoted = true;
      cur.clear();
    } else if (c == ',') {
      fields.push_back(was_quoted ? cur : trim(cur));
      cur.clear();
      was_quoted = false;
    } else {
      cur += c;
    }
  }
  if (quoted) malformed(file, line_no, "unterminated quoted field");
  fields.push_back(was_quoted ? cur : trim(cur));
  return fields;
}

std::vector<std::string> PaperTable::methods() const {
  return unique_in_order(rows, [](const PaperRow& r) { return r.method; });
}

std::vector<std::string> PaperTable::datasets() const {
  return unique_in_order(rows, [](const PaperRow& r) { return r.dataset; });
}

std::optional<double> PaperTable::value(const std::string& method, const std::string& dataset,
                                        const std::string& metric) const {
  for (const auto& r : rows) {
    if (r.method != method || r.dataset != dataset) continue;
    const auto it = r.values.find(metric);
    return it == r.values.end() ? std::nullopt : it->second;
  }
  return std::nullopt;
}

PaperTable load_paper_csv(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) throw IoError(fmt::format("{}: cannot open paper reference table", file.string()));
  PaperTable table;
  table.file = file;
  std::set<std::pair<std::string, std::string>> seen;
  std::string line;
  int line_no = 0;
  bool have_header = false;
  while (std::getline(in, line)) {
    ++line_no;
    if (trim(line).empty()) continue;
    auto fields = split_csv_line(line, file, line_no);
    if (!have_header) {
      if (fields.size() < 3 || fields[0] != "method" || fields[1] != "dataset")
        malformed(
            file, line_no,
            fmt::format("header must be 'method,dataset,<metric>,...', got '{}'", trim(line)));
      for (size_t i = 2; i < fields.size(); ++i) {
        if (fields[i].empty()) malformed(file, line_no, "empty metric name in header");
        if (std::find(table.metrics.begin(), table.metrics.end(), fields[i]) != table.metrics.end())
          malformed(file, line_no, fmt::format("metric '{}' appears twice in header", fields[i]));
        table.metrics.push_back(fields[i]);
      }
      have_header = true;
      continue;
    }
    if (fields.size() != table.metrics.size() + 2)
      malformed(
          file, line_no,
          fmt::format("expected {} fields (method,dataset,{}), got {}", table.metrics.size() + 2,
                      fmt::join(table.metrics, ","), fields.size()));
    PaperRow row;
    row.method = fields[0];
    row.dataset = fields[1];
    row.line = line_no;
    if (row.method.empty()) malformed(file, line_no, "empty method");
    if (row.dataset.empty()) malformed(file, line_no, "empty dataset");
    if (!seen.insert({row.method, row.dataset}).second)
      malformed(
          file, line_no,
          fmt::format("duplicate row for method '{}' on dataset '{}'", row.method, row.dataset));
    for (size_t i = 0; i < table.metrics.size(); ++i)
      row.values[table.metrics[i]] = parse_number(fields[i + 2], table.metrics[i], file, line_no);
    table.rows.push_back(std::move(row));
  }
  if (!have_header)
    throw DataError(fmt::format("{}:1: empty file, expected a header", file.string()));
  return table;
}

}  // namespace dmgn::report
