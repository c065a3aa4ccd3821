#pragma once
// A "paper vs ours" table (Tables I-VII): rows and dataset columns come from the paper's CSV
// (reports/paper/*.csv, in file order); the spec says how to find our numbers in the store.
// Ours for a row = the most recent (highest id) run with status 'completed', experiment ==
// spec.experiment and variant == spec.variant_for(label); per cell, its metric with split
// spec.split, dataset == the column's id (paper dataset name lower-cased) and name ==
// metric.name, at the highest step. Datasets those runs were evaluated on that are not paper
// columns become extra columns (paper side "n/a"). Nothing is invented: a number that is not
// in the store stays empty (rendered as a dash).
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "report/paper_csv.h"
#include "store/run_store.h"

namespace dmgn::report {

struct MetricSpec {
  std::string name;    // metric name in the store and column in the paper CSV ("psnr")
  std::string header;  // printed ("PSNR")
  int decimals = 2;
};

struct TableSpec {
  std::string id;                                 // "table1"
  std::string title;                              // printed above the table
  std::string experiment;                         // runs.experiment feeding "ours"
  std::map<std::string, std::string> variant_of;  // paper label -> runs.variant, if different
  std::vector<MetricSpec> metrics;
  std::string split = "test";

  std::string variant_for(const std::string& label) const;
};

struct DatasetColumn {
  std::string label;  // "Real20" (paper) or the store id for extra columns ("builtin")
  std::string id;     // dataset id in the store ("real20")
  bool in_paper = true;
};

struct Cell {
  std::optional<double> paper, ours;
};

struct TableRow {
  std::string label;
  std::optional<store::RunRow> run;      // the run "ours" comes from, if any
  std::string preset;                    // metric preset(s) of the numbers used ("" = none)
  std::vector<std::vector<Cell>> cells;  // [column][metric]
};

struct PaperVsOurs {
  TableSpec spec;
  std::filesystem::path paper_file, store_file;
  std::vector<DatasetColumn> columns;  // paper columns first, then extra ones (sorted)
  std::vector<TableRow> rows;          // paper order
};

// Store dataset id of a paper dataset name ("Real20" -> "real20").
std::string dataset_id(const std::string& paper_name);

// Throws DataError naming the CSV when it lacks a metric column the spec needs.
PaperVsOurs build_table(const store::RunStore& store, const PaperTable& paper,
                        const TableSpec& spec);

}  // namespace dmgn::report
