#pragma once
// A "paper vs ours" table (Tables I-VII): rows and dataset columns come from the paper's CSV
// (reports/paper/*.csv, in file order); the spec says how to find our numbers in the store.
// Ours per cell (row label, dataset column, metric): among the completed runs with
// experiment == spec.experiment, variant == the cell's variant (spec.cell_variant, else
// spec.variant_for(label)) and, if given, sweep == spec.sweep, the most recent one fixes the
// configuration (with spec.per_column_models: the most recent one with a test number on the
// column's dataset, as each benchmark of Tables V/VI has its own model); the latest run per
// seed of that configuration (same config up to run.seed) is averaged: mean +- sample std, n.
// The column's store id comes from reports/paper/datasets.csv (spec.dataset_ids), else the
// lower-cased paper name. Test datasets of those runs that are not paper columns become extra
// columns (paper side "n/a"); spec.extra_rows are rows of ours only. Nothing is invented: a
// number that is not in the store stays empty (rendered as a dash).
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
  std::string source = "the DMGN paper";          // where the paper's numbers come from
  std::string experiment;                         // runs.experiment feeding "ours"
  std::map<std::string, std::string> variant_of;  // paper label -> runs.variant, if different
  std::vector<MetricSpec> metrics;
  std::string split = "test";
  std::string sweep;  // only runs of this sweep ("" = any)
  // A run's numbers are its own end-of-training test; with this, also its `dmgn eval` results
  // (store origin "eval"), on datasets its own test does not cover, as extra columns.
  bool with_evals = false;
  // (row label, paper dataset label) -> variant, e.g. Table VII's diagonal DMGN row.
  std::map<std::pair<std::string, std::string>, std::string> cell_variant;
  std::vector<std::string> extra_rows;  // rows with no paper numbers (label = variant)
  // Rows of the unprocessed input (the paper's "Input"): label -> the variant whose runs'
  // identity scores (stored as <metric>_input on the same test data) the row shows.
  std::map<std::string, std::string> input_rows;
  bool per_column_models = false;       // each dataset column may come from its own model
  std::map<std::string, std::string> dataset_ids;  // paper dataset name -> store dataset id
  // Columns computed from others: store dataset id -> (part id, weight). A run's number on such
  // a column is the weighted mean of its numbers on every part (none if a part is missing):
  // Location-aware SIRR's "Average(494)" over its five test sets and "SIR^2" over three,
  // weighted by the paper's image counts.
  std::map<std::string, std::vector<std::pair<std::string, double>>> derived;
  // Pairs (a, b) the paper's numbers order a < b; the report says whether ours agree.
  std::vector<std::pair<std::string, std::string>> orderings;

  std::string variant_for(const std::string& label) const;
  std::string dataset_id(const std::string& paper_name) const;
};

struct DatasetColumn {
  std::string label;  // "Real20" (paper) or the store id for extra columns ("builtin")
  std::string id;     // dataset id in the store ("real20")
  bool in_paper = true;
};

struct Cell {
  std::optional<double> paper, ours;  // ours: the mean over seeds
  double ours_std = 0;                // sample standard deviation (0 when n = 1)
  int ours_n = 0;                     // runs (seeds) behind ours
  std::map<int64_t, double> per_seed;  // ours per seed
};

struct TableRow {
  std::string label;
  std::optional<store::RunRow> run;      // the most recent run behind ours, if any
  std::vector<int64_t> run_ids;          // every run behind the row's numbers
  std::vector<int64_t> seeds;            // their seeds
  std::string provenance;                // replaces the runs' provenance text when set (Table III)
  std::string preset;                    // metric preset(s) of the numbers used ("" = none)
  std::vector<std::vector<Cell>> cells;  // [column][metric]
};

// A paired comparison of two rows per test image (report/paired.h): D[seed][image] = b - a.
struct PairedDiff {
  std::string column, metric, a, b;        // dataset column id, metric name, the rows (paper: a < b)
  std::string column_label, metric_header;  // as the table prints them
  int decimals = 2;                         // decimals of the differences (the table's + 1)
  std::string missing;                      // non-empty: not computed, names the run without scores
  int seeds = 0, images = 0;
  double mean = 0, lo = 0, hi = 0;          // mean paired difference and its 95% bootstrap interval
  std::string verdict;                      // holds | reversed | not resolved
  double var_seed = 0, var_image = 0, var_residual = 0;
};

struct PaperVsOurs {
  TableSpec spec;
  std::filesystem::path paper_file, store_file;
  std::vector<DatasetColumn> columns;  // paper columns first, then extra ones (sorted)
  std::vector<TableRow> rows;          // paper order, then spec.extra_rows
  std::vector<std::string> notes;      // extra footer lines (e.g. ordering verdicts)
  std::vector<PairedDiff> paired;      // the spec's orderings compared per image (report/paired.h)
};

// reports/paper/datasets.csv: paper dataset name -> store dataset id. A missing file gives an
// empty map (names are then lower-cased); a malformed one throws DataError naming file:line.
std::map<std::string, std::string> load_dataset_ids(const std::filesystem::path& file);

// Mean +- std text of a cell's ours ("21.46", "21.46 ± 0.12"); `pm` is the plus-minus glyph.
std::string ours_text(const Cell& cell, int decimals, const char* pm = "±");

// One line per spec.orderings pair and our column/metric with numbers on both sides:
// "builtin PSNR: Base model (19.10 ± 0.20) < RDMC (19.50 ± 0.10): holds".
std::vector<std::string> ordering_verdicts(const PaperVsOurs& table);

// Throws DataError naming the CSV when it lacks a metric column the spec needs.
PaperVsOurs build_table(const store::RunStore& store, const PaperTable& paper,
                        const TableSpec& spec);

}  // namespace dmgn::report
