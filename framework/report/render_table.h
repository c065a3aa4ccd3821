#pragma once
// Renders a PaperVsOurs table as Markdown, CSV or LaTeX with the same content: per dataset
// column and metric the paper's number beside ours (PSNR-like metrics with the spec's
// decimals), the provenance of ours per row (run id, training data, steps, epochs,
// vgg_weights, metric preset, from the store's provenance table) and footer lines saying
// which numbers are the paper's and which are ours. Ours missing from the store = "–"
// ("--" in LaTeX); not reported by the paper = "n/a". CSV footer lines start with "# ".
#include <string>

#include "report/format.h"
#include "report/paper_table.h"

namespace dmgn::report {

std::string render(const PaperVsOurs& table, Format fmt);

}  // namespace dmgn::report
