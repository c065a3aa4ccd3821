#pragma once
// What a local page's HTTP interface sees and answers (`dmgn study serve`, `dmgn board`),
// independent of the server library (web/server.h binds a handler to a socket), so that every
// rule of an interface is testable without one.
#include <filesystem>
#include <map>
#include <string>

namespace dmgn::web {

struct Request {
  std::string method;  // GET | POST | ...
  std::string path;    // decoded, without the query
  std::map<std::string, std::string> query;
  std::string body;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::filesystem::path file;  // when set, the body is this file's bytes (the handler chose it)
  bool cacheable = false;      // images, scripts: the browser may keep them
};

// Equal-time comparison (a token is a secret).
bool same_secret(const std::string& a, const std::string& b);
// `bytes` random bytes from the system's random device, as lower-case hex.
std::string random_hex(size_t bytes);

}  // namespace dmgn::web
