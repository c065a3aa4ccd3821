#pragma once
// Output formats of generated report tables.
#include <string>

namespace dmgn::report {

enum class Format { markdown, csv, latex };

// "markdown" | "md", "csv", "latex" | "tex"; anything else throws ConfigError naming it.
Format parse_format(const std::string& name);
std::string format_name(Format fmt);     // "markdown", "csv", "latex"
std::string file_extension(Format fmt);  // ".md", ".csv", ".tex"

}  // namespace dmgn::report
