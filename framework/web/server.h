#pragma once
// A local page's HTTP interface (web/http.h) over HTTP with Debian's cpp-httplib: `dmgn study
// serve` and `dmgn board`. Binds where it is told (the CLIs default to 127.0.0.1), a small
// thread pool, request bodies capped at 64 KiB, security headers on every answer (no sniffing,
// no framing, no referrer, API answers never cached). serve() blocks until stop() or, when it
// handles signals, SIGINT / SIGTERM. The handler may be called from several threads at once.
#include <functional>
#include <memory>
#include <string>

#include "web/http.h"

namespace dmgn::web {

using Handler = std::function<Response(const Request&)>;

class Server {
 public:
  explicit Server(Handler handler);
  ~Server();
  // Binds host:port (port 0: a free one) and returns the port; IoError when it cannot.
  int bind(const std::string& host, int port);
  // Serves until stop() (from another thread) or, with handle_signals, SIGINT / SIGTERM.
  void serve(bool handle_signals);
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Whether `host` is a loopback address (127.0.0.0/8, ::1, localhost): only this machine.
bool is_loopback(const std::string& host);

}  // namespace dmgn::web
