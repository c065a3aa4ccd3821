#pragma once
// Paper reference numbers stored as CSV under reports/paper/ (see its README.md).
// Header: method,dataset,<metric>[,<metric>...] (Table I: method,dataset,psnr,ssim); one line
// per (method, dataset). An empty cell or "n/a" = the paper reports no number. Fields may be
// double-quoted; blank lines are skipped. A missing file throws IoError; a malformed header or
// row (field count, non-numeric value, empty method/dataset, duplicate pair) throws DataError
// naming "file:line".
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace dmgn::report {

struct PaperRow {
  std::string method, dataset;
  std::map<std::string, std::optional<double>> values;  // metric -> number (nullopt = n/a)
  int line = 0;
};

struct PaperTable {
  std::filesystem::path file;
  std::vector<std::string> metrics;  // header columns after method,dataset
  std::vector<PaperRow> rows;        // file order

  std::vector<std::string> methods() const;   // in order of first appearance
  std::vector<std::string> datasets() const;  // in order of first appearance
  std::optional<double> value(const std::string& method, const std::string& dataset,
                              const std::string& metric) const;
};

PaperTable load_paper_csv(const std::filesystem::path& file);

// One CSV line split into fields ("" quoting, surrounding blanks trimmed off unquoted fields).
// Throws DataError naming file:line on an unterminated quote.
std::vector<std::string> split_csv_line(const std::string& line, const std::filesystem::path& file,
                                        int line_no);

}  // namespace dmgn::report
