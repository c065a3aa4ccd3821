#include "core/csv.h"

#include <regex>
#include <string_view>

namespace dmgn {
namespace {

// A plain decimal number as dmgn prints them ("-0.5", "28.31", "1e-05"); a leading '+' is not
// one (fmt never writes it for a cell), so "+1" typed as a name stays text.
bool plain_number(const std::string& s) {
  static const std::regex number(R"(-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?)");
  return std::regex_match(s, number);
}

}  // namespace

std::string csv_field(const std::string& text) {
  const bool live = !text.empty() && std::string_view("=+-@\t\r").find(text.front()) != std::string_view::npos &&
                    !plain_number(text);
  const std::string s = live ? "'" + text : text;
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

}  // namespace dmgn
