#pragma once
// A page interface (web/http.h) served on 127.0.0.1, a free port, by web::Server in a thread of
// the test, with a client that has waited until the page answers. stop() (or the destructor)
// stops the server and joins its thread.
#ifdef DMGN_WITH_STUDY_SERVER
#include <httplib.h>

#include <chrono>
#include <thread>

#include "web/server.h"

namespace dmgn::testing {

class LoopbackServer {
 public:
  explicit LoopbackServer(web::Handler handler)
      : server_(std::move(handler)), port_(server_.bind("127.0.0.1", 0)), client_("127.0.0.1", port_) {
    serving_ = std::thread([this] { server_.serve(false); });
    client_.set_connection_timeout(5);
    for (int i = 0; i < 50 && !client_.Get("/"); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ~LoopbackServer() { stop(); }
  void stop() {
    if (!serving_.joinable()) return;
    server_.stop();
    serving_.join();
  }
  int port() const { return port_; }
  httplib::Client& client() { return client_; }

 private:
  web::Server server_;
  int port_;
  httplib::Client client_;
  std::thread serving_;
};

}  // namespace dmgn::testing
#endif
