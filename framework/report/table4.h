#pragma once
// DMGN Table IV (human evaluation) from a study of the store (`dmgn study`): per method its share
// of the votes with a 95% bootstrap interval over subjects, its votes and winning samples, the
// PSNR/SSIM of the images shown for it, and the paper's share and wins beside (matched by method
// name, case-insensitive, to reports/paper/table4.csv); a "Tied" row counts the samples whose top
// count two or more methods share, as the paper does. Footer lines give the study's provenance:
// dataset, samples, seed, subjects counted, every method's source (run, checkpoint, folder).
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "report/render_table.h"
#include "store/study_store.h"
#include "study/aggregate.h"

namespace dmgn::report {

struct Table4Options {
  std::string study;
  std::string table = "table4";  // the registered study table (report/tables.h): its <id>.csv
  std::filesystem::path paper_dir;  // default: the folder registered for table4 (framework/systems/dmgn/paper/)
  bool include_unfinished = false;  // count the votes of subjects who have not finished
  int resamples = 2000;
  uint64_t seed = 0;
};

struct Table4 {
  Grid grid;
  study::Tally tally;
  std::vector<int64_t> runs;  // the run methods' runs
};

Table4 build_table4(const store::StudyStore& store, const Table4Options& options);

}  // namespace dmgn::report
