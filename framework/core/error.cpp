#include "core/error.h"

#include <c10/util/Exception.h>

namespace dmgn {

std::string error_summary(const std::exception& e) {
  std::string s = e.what();
  if (const auto* c = dynamic_cast<const c10::Error*>(&e)) s = c->what_without_backtrace();
  if (auto nl = s.find('\n'); nl != std::string::npos) s.resize(nl);
  return s;
}

}  // namespace dmgn
