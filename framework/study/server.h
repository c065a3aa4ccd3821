#pragma once
// `dmgn study serve`: the study's Api (study/api.h) over HTTP with Debian's cpp-httplib. Binds
// where it is told (the CLI defaults to 127.0.0.1), a small thread pool, request bodies capped
// at 64 KiB, security headers on every answer (no sniffing, no framing, no referrer, API answers
// never cached). serve() blocks until stop() or, when it handles signals, SIGINT / SIGTERM.
#include <functional>
#include <memory>
#include <string>

#include "study/api.h"

namespace dmgn::study {

class Server {
 public:
  explicit Server(Api& api);
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

}  // namespace dmgn::study
