#pragma once
// CSV cells as every CSV dmgn writes them (report tables, per-image scores).
#include <string>

namespace dmgn {

// One CSV cell: quoted when it holds a comma, quote or line break; a cell a spreadsheet would
// evaluate as a formula (first character = + - @ tab or carriage return: names, sample ids and
// other text from users) gets a leading ' so that it is shown as text (OWASP's CSV injection
// rule). Numbers such as "-0.5" are left as they are.
std::string csv_field(const std::string& text);

}  // namespace dmgn
