#include "web/server.h"

#include <fmt/format.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <fstream>
#include <sstream>
#include <thread>

#include "core/error.h"

namespace dmgn::web {

struct Server::Impl {
  Handler handler;
  httplib::Server http;
  explicit Impl(Handler h) : handler(std::move(h)) {}
};

namespace {

void answer(const Handler& handler, const httplib::Request& req, httplib::Response& res) {
  Request r;
  r.method = req.method;
  r.path = req.path;
  for (const auto& [k, v] : req.params) r.query.emplace(k, v);  // the first of a repeated key
  r.body = req.body;
  Response out = handler(r);
  res.status = out.status;
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_header("X-Frame-Options", "DENY");
  res.set_header("Referrer-Policy", "no-referrer");
  res.set_header("Cache-Control", out.cacheable ? "private, max-age=86400" : "no-store");
  if (!out.file.empty()) {
    std::ifstream f(out.file, std::ios::binary);
    std::ostringstream bytes;
    bytes << f.rdbuf();
    if (!f) {
      res.status = 500;
      res.set_content(R"({"error":"a file behind this page cannot be read"})", "application/json");
      return;
    }
    res.set_content(bytes.str(), out.content_type.c_str());
    return;
  }
  res.set_content(out.body, out.content_type.c_str());
}

}  // namespace

Server::Server(Handler handler) : impl_(std::make_unique<Impl>(std::move(handler))) {
  auto& http = impl_->http;
  http.set_payload_max_length(64 * 1024);
  http.new_task_queue = [] { return new httplib::ThreadPool(8); };
  const auto route = [this](const httplib::Request& req, httplib::Response& res) { answer(impl_->handler, req, res); };
  http.Get(".*", route);
  http.Post(".*", route);
  http.Put(".*", route);
  http.Delete(".*", route);
}

Server::~Server() = default;

int Server::bind(const std::string& host, int port) {
  auto& http = impl_->http;
  const int bound = port == 0 ? http.bind_to_any_port(host) : (http.bind_to_port(host, port) ? port : -1);
  if (bound <= 0)
    throw IoError(fmt::format("cannot listen on {}:{} (in use, or not an address of this machine)", host, port));
  return bound;
}

namespace {

// Set by SIGINT / SIGTERM (any thread may receive them: LibTorch and the server own threads).
std::atomic<bool> g_signalled{false};
void on_stop_signal(int) { g_signalled.store(true); }

}  // namespace

void Server::serve(bool handle_signals) {
  std::atomic<bool> done{false};
  std::thread watcher;
  struct sigaction old_int{}, old_term{};
  if (handle_signals) {
    g_signalled.store(false);
    struct sigaction sa{};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    watcher = std::thread([this, &done] {
      while (!done.load()) {  // again until it takes (a signal may come before the server runs)
        if (g_signalled.load()) impl_->http.stop();
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    });
  }
  impl_->http.listen_after_bind();
  done.store(true);
  if (watcher.joinable()) {
    watcher.join();
    sigaction(SIGINT, &old_int, nullptr);
    sigaction(SIGTERM, &old_term, nullptr);
  }
}

void Server::stop() { impl_->http.stop(); }

bool is_loopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

}  // namespace dmgn::web
