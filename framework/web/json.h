#pragma once
// JSON answers of a local page's interface (web/http.h): a request the interface refuses is an
// HttpError thrown inside its handler and answered as {"error": message} with its status.
// Only for builds with nlohmann-json (where the interfaces are built).
#include <nlohmann/json.hpp>

#include <string>

#include "web/http.h"

namespace dmgn::web {

struct HttpError {
  int status;
  std::string message;
};

inline Response json_response(const nlohmann::json& j, int status = 200) {
  Response r;
  r.status = status;
  r.body = j.dump();
  return r;
}

}  // namespace dmgn::web
