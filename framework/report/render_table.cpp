#include "report/render_table.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <set>
#include <vector>

#include "core/csv.h"

namespace dmgn::report {

namespace {

constexpr const char* kDash = "–";
constexpr const char* kNotInPaper = "n/a";

// The provenance fields printed for each row, in order: (column name, provenance key).
const std::vector<std::pair<std::string, std::string>> kProvenance = {
    {"data", "dataset"}, {"steps", "steps"}, {"epochs", "epochs"}, {"vgg_weights", "vgg_weights"}};

std::string number(const std::optional<double>& v, int decimals, const char* missing) {
  return v ? fmt::format("{:.{}f}", *v, decimals) : missing;
}

std::string prov(const store::RunRow& run, const std::string& key) {
  const auto it = run.provenance.find(key);
  return it == run.provenance.end() || it->second.empty() ? kDash : it->second;
}

// "run 7; data=real; steps=200; ..." or "runs 4, 5, 6 (seeds 0, 1, 2); data=...; ..." or "–".
std::string provenance_text(const TableRow& row) {
  if (!row.provenance.empty()) return row.provenance;
  if (!row.run) return kDash;
  std::vector<std::string> parts;
  if (row.run_ids.size() > 1)
    parts.push_back(fmt::format("runs {} (seeds {})", fmt::join(row.run_ids, ", "), fmt::join(row.seeds, ", ")));
  else
    parts.push_back(fmt::format("run {}", row.run->id));
  for (const auto& [name, key] : kProvenance) parts.push_back(name + "=" + prov(*row.run, key));
  parts.push_back("preset=" + (row.preset.empty() ? std::string(kDash) : row.preset));
  return fmt::format("{}", fmt::join(parts, "; "));
}

// Runs whose numbers cannot be compared with the paper's, per their own provenance.
std::vector<int64_t> caution_runs(const PaperVsOurs& t) {
  std::set<int64_t> ids;
  for (const auto& row : t.rows) {
    if (!row.run) continue;
    const std::string data = prov(*row.run, "dataset");
    if (prov(*row.run, "vgg_weights") == "random" || data.rfind("builtin", 0) == 0)
      ids.insert(row.run->id);
  }
  return {ids.begin(), ids.end()};
}

std::vector<std::string> footer(const PaperVsOurs& t) {
  std::vector<std::string> lines;
  if (t.spec.id != "table3")  // Table III reads benchmarks, explained by its own note
    lines.push_back(fmt::format(
      "Paper: numbers transcribed from {} ({}). Ours: per row, the configuration of "
      "the most recent completed run of experiment '{}'{} in {} (split '{}', last logged step; "
      "per column in tables whose benchmarks each have their own model); its seeds are shown as "
      "mean ± sample std.",
      t.spec.source, t.paper_file.string(), t.spec.experiment,
      t.spec.sweep.empty() ? "" : fmt::format(", sweep '{}'", t.spec.sweep), t.store_file.string(),
      t.spec.split));
  for (const auto& [label, variant] : t.spec.variant_of)
    for (const auto& row : t.rows)
      if (row.label == label)
        lines.push_back(fmt::format("'{}' shows the '{}' run (same model).", label, variant));
  lines.push_back(
      fmt::format("{} = not in the store (not run or not evaluated); {} = not "
                  "reported by the paper.",
                  kDash, kNotInPaper));
  for (const auto& n : t.notes) lines.push_back(n);
  const auto caution = caution_runs(t);
  if (!caution.empty())
    lines.push_back(fmt::format(
        "Caution: run(s) {} used random VGG weights and/or built-in synthetic data; their "
        "numbers are not comparable with the paper's.",
        fmt::join(caution, ", ")));
  return lines;
}

std::string md_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '|') out += '\\';
    out += c;
  }
  return out;
}

std::string tex_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '\\':
        out += "\\textbackslash{}";
        break;
      case '&':
      case '%':
      case '$':
      case '#':
      case '_':
      case '{':
      case '}':
        out += '\\';
        out += c;
        break;
      case '~':
        out += "\\textasciitilde{}";
        break;
      case '^':
        out += "\\textasciicircum{}";
        break;
      default:
        out += c;
    }
  }
  // The dash glyph itself is not in LaTeX's default input encoding everywhere.
  std::string ascii;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out.compare(i, 3, kDash) == 0) {
      ascii += "--";
      i += 2;
    } else if (out.compare(i, 2, "±") == 0) {
      ascii += "$\\pm$";
      i += 1;
    } else {
      ascii += out[i];
    }
  }
  return ascii;
}

// Which sides a column prints: datasets outside the paper (e.g. built-in data) have no paper
// side in the human-readable formats; CSV keeps every column for machines.
std::vector<const char*> sides(const DatasetColumn& col, bool all) {
  if (col.in_paper || all) return {"paper", "ours"};
  return {"ours"};
}

// The printed numbers of a row, ordered column-major: per column, per metric, paper then ours
// (ours as mean ± std with `pm`; CSV: the mean, then its std and n when `with_spread`).
std::vector<std::string> row_numbers(const PaperVsOurs& t, const TableRow& row,
                                     const char* missing_ours, bool all_sides, const char* pm = "±",
                                     bool with_spread = false) {
  std::vector<std::string> out;
  for (size_t c = 0; c < t.columns.size(); ++c)
    for (size_t m = 0; m < t.spec.metrics.size(); ++m) {
      const Cell& cell = row.cells[c][m];
      const int d = t.spec.metrics[m].decimals;
      if (t.columns[c].in_paper || all_sides) out.push_back(number(cell.paper, d, kNotInPaper));
      if (with_spread) {
        out.push_back(number(cell.ours, d, missing_ours));
        out.push_back(cell.ours ? fmt::format("{:.{}f}", cell.ours_std, d + 2) : missing_ours);
        out.push_back(cell.ours ? std::to_string(cell.ours_n) : missing_ours);
      } else {
        out.push_back(cell.ours ? ours_text(cell, d, pm) : missing_ours);
      }
    }
  return out;
}

std::string render_markdown(const PaperVsOurs& t) {
  std::vector<std::string> head = {"Method"};
  std::vector<std::string> align = {":--"};
  for (const auto& col : t.columns)
    for (const auto& m : t.spec.metrics)
      for (const char* who : sides(col, false)) {
        head.push_back(fmt::format("{} {} ({})", col.label, m.header, who));
        align.push_back("--:");
      }
  head.push_back("Provenance of ours");
  align.push_back(":--");

  std::string out = fmt::format("### {}\n\n", t.spec.title);
  out += fmt::format("| {} |\n", fmt::join(head, " | "));
  out += fmt::format("|{}|\n", fmt::join(align, "|"));
  for (const auto& row : t.rows) {
    std::vector<std::string> cells = {md_escape(row.label)};
    for (auto& n : row_numbers(t, row, kDash, false)) cells.push_back(n);
    cells.push_back(md_escape(provenance_text(row)));
    out += fmt::format("| {} |\n", fmt::join(cells, " | "));
  }
  out += "\n";
  for (const auto& line : footer(t)) out += line + "\n\n";
  out.pop_back();
  return out;
}

std::string render_csv(const PaperVsOurs& t) {
  std::vector<std::string> head = {"method"};
  for (const auto& col : t.columns)
    for (const auto& m : t.spec.metrics)
      for (const char* who : {"paper", "ours", "ours_std", "ours_n"})
        head.push_back(fmt::format("{}_{}_{}", col.id, m.name, who));
  head.push_back("run_id");
  for (const auto& [name, key] : kProvenance) head.push_back(name);
  head.push_back("preset");

  std::string out;
  for (auto& h : head) h = csv_field(h);
  out += fmt::format("{}\n", fmt::join(head, ","));
  for (const auto& row : t.rows) {
    std::vector<std::string> cells = {row.label};
    for (auto& n : row_numbers(t, row, kDash, true, "", true)) cells.push_back(n);
    cells.push_back(row.run_ids.empty() ? kDash : fmt::format("{}", fmt::join(row.run_ids, " ")));
    for (const auto& [name, key] : kProvenance)
      cells.push_back(row.run ? prov(*row.run, key) : kDash);
    cells.push_back(row.preset.empty() ? kDash : row.preset);
    for (auto& c : cells) c = csv_field(c);
    out += fmt::format("{}\n", fmt::join(cells, ","));
  }
  for (const auto& line : footer(t)) out += "# " + line + "\n";
  return out;
}

std::string render_latex(const PaperVsOurs& t) {
  auto per_col = [&](const DatasetColumn& col) { return sides(col, false).size() * t.spec.metrics.size(); };
  std::string spec = "l";
  for (const auto& col : t.columns) spec += "|" + std::string(per_col(col), 'r');
  spec += "|l";

  std::string out = fmt::format("% Generated by dmgn from {} and {}; do not edit by hand.\n",
                                t.store_file.string(), t.paper_file.string());
  out += "\\begin{table*}[t]\n\\centering\n";
  out += fmt::format("\\caption{{{}}}\n\\label{{tab:{}}}\n", tex_escape(t.spec.title), t.spec.id);
  out += fmt::format("\\begin{{tabular}}{{{}}}\n\\hline\n", spec);
  std::vector<std::string> top = {""};
  for (size_t c = 0; c < t.columns.size(); ++c)
    top.push_back(
        fmt::format("\\multicolumn{{{}}}{{c|}}{{{}}}", per_col(t.columns[c]), tex_escape(t.columns[c].label)));
  top.push_back("");
  out += fmt::format("{} \\\\\n", fmt::join(top, " & "));
  std::vector<std::string> head = {"Method"};
  for (const auto& col : t.columns)
    for (const auto& m : t.spec.metrics)
      for (const char* who : sides(col, false))
        head.push_back(fmt::format("{} {}", tex_escape(m.header), who));
  head.push_back("Provenance of ours");
  out += fmt::format("{} \\\\\n\\hline\n", fmt::join(head, " & "));
  for (const auto& row : t.rows) {
    std::vector<std::string> cells = {tex_escape(row.label)};
    for (auto& n : row_numbers(t, row, "--", false, "$\\pm$")) cells.push_back(n);
    cells.push_back("{\\footnotesize " + tex_escape(provenance_text(row)) + "}");
    out += fmt::format("{} \\\\\n", fmt::join(cells, " & "));
  }
  out += "\\hline\n\\end{tabular}\n\\par\\smallskip\n{\\footnotesize\n";
  for (const auto& line : footer(t)) out += tex_escape(line) + "\\\\\n";
  out += "}\n\\end{table*}\n";
  return out;
}

}  // namespace

std::string render_grid(const Grid& g, Format fmt) {
  std::string out;
  const auto join_row = [](const std::vector<std::string>& cells, const char* sep) {
    return fmt::format("{}", fmt::join(cells, sep));
  };
  switch (fmt) {
    case Format::markdown: {
      out += "### " + md_escape(g.title) + "\n\n";
      std::vector<std::string> head, rule;
      for (const auto& h : g.header) head.push_back(md_escape(h)), rule.push_back("---");
      out += "| " + join_row(head, " | ") + " |\n| " + join_row(rule, " | ") + " |\n";
      for (const auto& r : g.rows) {
        std::vector<std::string> cells;
        for (const auto& c : r) cells.push_back(md_escape(c));
        out += "| " + join_row(cells, " | ") + " |\n";
      }
      out += "\n";
      for (const auto& n : g.notes) out += n + "\n";
      return out;
    }
    case Format::csv: {
      std::vector<std::string> head;
      for (const auto& h : g.header) head.push_back(csv_field(h));
      out += join_row(head, ",") + "\n";
      for (const auto& r : g.rows) {
        std::vector<std::string> cells;
        for (const auto& c : r) cells.push_back(csv_field(c));
        out += join_row(cells, ",") + "\n";
      }
      for (const auto& n : g.notes) out += "# " + n + "\n";
      return out;
    }
    case Format::latex: {
      out += "% Generated by dmgn; do not edit by hand.\n\\begin{table*}[t]\n\\centering\n";
      out += fmt::format("\\caption{{{}}}\n\\label{{tab:{}}}\n", tex_escape(g.title), g.id);
      out += fmt::format("\\begin{{tabular}}{{l{}}}\n\\hline\n", std::string(g.header.size() - 1, 'r'));
      std::vector<std::string> head;
      for (const auto& h : g.header) head.push_back(tex_escape(h));
      out += join_row(head, " & ") + " \\\\\n\\hline\n";
      for (const auto& r : g.rows) {
        std::vector<std::string> cells;
        for (const auto& c : r) cells.push_back(tex_escape(c));
        out += join_row(cells, " & ") + " \\\\\n";
      }
      out += "\\hline\n\\end{tabular}\n\\par\\smallskip\n{\\footnotesize\n";
      for (const auto& n : g.notes) out += tex_escape(n) + "\\\\\n";
      out += "}\n\\end{table*}\n";
      return out;
    }
  }
  return out;
}

std::string render(const PaperVsOurs& table, Format fmt) {
  switch (fmt) {
    case Format::markdown:
      return render_markdown(table);
    case Format::csv:
      return render_csv(table);
    case Format::latex:
      return render_latex(table);
  }
  return render_markdown(table);
}

}  // namespace dmgn::report
