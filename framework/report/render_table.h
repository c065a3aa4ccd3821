#pragma once
// Renders a PaperVsOurs table as Markdown, CSV or LaTeX with the same content: per dataset
// column and metric the paper's number beside ours (PSNR-like metrics with the spec's
// decimals), the provenance of ours per row (run id, training data, steps, epochs,
// vgg_weights, metric preset, from the store's provenance table) and footer lines saying
// which numbers are the paper's and which are ours. Ours missing from the store = "–"
// ("--" in LaTeX); not reported by the paper = "n/a". CSV footer lines start with "# ".
// CSV cells (here and in render_grid) that a spreadsheet would evaluate as a formula (first
// character = + - @ tab or carriage return, and not a plain number such as "-0.5") start with
// a ' (OWASP's CSV injection rule): names and ids typed by users are never live formulas.
#include <string>
#include <vector>

#include "report/format.h"
#include "report/paper_table.h"

namespace dmgn::report {

std::string render(const PaperVsOurs& table, Format fmt);

// A plain grid (tables that are not paper vs ours, e.g. `dmgn report cross-system`): a title,
// a header, rows of already formatted cells and footer lines, in the same three formats.
struct Grid {
  std::string id, title;
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> notes;
};
std::string render_grid(const Grid& grid, Format fmt);

}  // namespace dmgn::report
