#include "core/hostlist.h"

#include <fmt/format.h>

#include <cctype>

#include "core/error.h"

namespace dmgn {
namespace {

[[noreturn]] void hostlist_error(const std::string& list, const std::string& why) {
  throw ConfigError(fmt::format("host list '{}': {}", list, why));
}

bool all_digits(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

// The numbers of one bracket's body ("01-04,07"), zero-padded as written.
std::vector<std::string> bracket_values(const std::string& list, const std::string& body, size_t limit) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= body.size()) {
    const size_t comma = body.find(',', pos);
    const std::string item = body.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    const size_t dash = item.find('-');
    const std::string lo = item.substr(0, dash), hi = dash == std::string::npos ? lo : item.substr(dash + 1);
    if (!all_digits(lo) || !all_digits(hi))
      hostlist_error(list, fmt::format("'[{}]' holds '{}', not a number or range", body, item));
    if (lo.size() > 9 || hi.size() > 9) hostlist_error(list, fmt::format("'{}' is too long a number", item));
    const long a = std::stol(lo), b = std::stol(hi);
    if (b < a) hostlist_error(list, fmt::format("range '{}' runs backwards", item));
    const size_t width = lo.size();  // Slurm pads to the width of the range's first number
    for (long v = a; v <= b; ++v) {
      out.push_back(fmt::format("{:0{}d}", v, width));
      if (out.size() > limit) return out;
    }
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return out;
}

// Splits the list at the commas outside brackets.
std::vector<std::string> hostlist_items(const std::string& list) {
  std::vector<std::string> out;
  std::string cur;
  int depth = 0;
  for (char c : list) {
    if (c == '[') ++depth;
    if (c == ']' && --depth < 0) hostlist_error(list, "']' without '['");
    if (c == ',' && depth == 0) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (depth != 0) hostlist_error(list, "'[' without ']'");
  out.push_back(cur);
  for (const auto& s : out)
    if (s.empty()) hostlist_error(list, "an empty host name");
  return out;
}

// The hosts of one item, at most `limit` + 1 of them.
std::vector<std::string> expand_item(const std::string& list, const std::string& item, size_t limit) {
  const size_t open = item.find('[');
  if (open == std::string::npos) return {item};
  const size_t close = item.find(']', open);
  const std::string prefix = item.substr(0, open), rest = item.substr(close + 1);
  const auto values = bracket_values(list, item.substr(open + 1, close - open - 1), limit);
  std::vector<std::string> out;
  for (const auto& v : values) {
    for (auto& tail : expand_item(list, rest.empty() ? "" : rest, limit))
      out.push_back(prefix + v + tail);
    if (out.size() > limit) break;
  }
  return out;
}

}  // namespace

std::vector<std::string> expand_hostlist(const std::string& list) {
  std::vector<std::string> out;
  if (list.empty()) hostlist_error(list, "empty");
  for (const auto& item : hostlist_items(list))
    for (auto& h : expand_item(list, item, 1u << 20)) out.push_back(std::move(h));
  return out;
}

std::string first_host(const std::string& list) {
  if (list.empty()) hostlist_error(list, "empty");
  return expand_item(list, hostlist_items(list).front(), 1).front();
}

}  // namespace dmgn
