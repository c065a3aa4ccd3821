#include "report/format.h"

#include <fmt/format.h>

#include "core/error.h"

namespace dmgn::report {

Format parse_format(const std::string& name) {
  if (name == "markdown" || name == "md") return Format::markdown;
  if (name == "csv") return Format::csv;
  if (name == "latex" || name == "tex") return Format::latex;
  throw ConfigError(
      fmt::format("report format '{}' is unknown (expected markdown, csv or latex)", name));
}

std::string format_name(Format fmt) {
  switch (fmt) {
    case Format::markdown:
      return "markdown";
    case Format::csv:
      return "csv";
    case Format::latex:
      return "latex";
  }
  return "markdown";
}

std::string file_extension(Format fmt) {
  switch (fmt) {
    case Format::markdown:
      return ".md";
    case Format::csv:
      return ".csv";
    case Format::latex:
      return ".tex";
  }
  return ".md";
}

}  // namespace dmgn::report
