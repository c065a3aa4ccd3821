#include "train/launch.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <thread>

#include "core/error.h"

namespace dmgn::train {

namespace {

std::atomic<int> g_forward{0};
extern "C" void on_launcher_signal(int sig) { g_forward = sig; }

std::string describe(const WorkerExit& w) {
  if (w.signal) return fmt::format("rank {} (pid {}) was killed by signal {} ({})", w.rank, w.pid, w.signal,
                                   strsignal(w.signal));
  return fmt::format("rank {} (pid {}) exited with code {}", w.rank, w.pid, w.exit_code);
}

}  // namespace

int free_tcp_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw IoError(fmt::format("cannot open a socket: {}", std::strerror(errno)));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof(a);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    const std::string err = std::strerror(errno);
    ::close(fd);
    throw IoError("cannot find a free TCP port on 127.0.0.1: " + err);
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

std::string self_executable() {
  char exe[4096];
  const ssize_t n = ::readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n <= 0) throw IoError("cannot locate this executable (/proc/self/exe)");
  exe[n] = '\0';
  return exe;
}

LaunchResult launch_local(const LaunchOptions& o) {
  if (o.nproc < 1) throw ConfigError(fmt::format("--nproc must be >= 1 (got {})", o.nproc));
  if (o.args.empty()) throw ConfigError("dmgn launch: nothing to run (give the worker command after --)");
  const int port = o.master_port > 0 ? o.master_port : free_tcp_port();
  const std::string exe = self_executable();

  if (!o.quiet)
    std::fprintf(stderr, "dmgn launch: %d workers, rendezvous at %s:%d\n", o.nproc, o.master_addr.c_str(), port);
  std::fflush(stderr);
  std::fflush(stdout);
  LaunchResult result;
  for (int r = 0; r < o.nproc; ++r) {
    const pid_t pid = ::fork();
    if (pid < 0) throw IoError(fmt::format("cannot start worker {}: {}", r, std::strerror(errno)));
    if (pid == 0) {
      ::setenv("RANK", std::to_string(r).c_str(), 1);
      ::setenv("LOCAL_RANK", std::to_string(r).c_str(), 1);
      ::setenv("WORLD_SIZE", std::to_string(o.nproc).c_str(), 1);
      ::setenv("LOCAL_WORLD_SIZE", std::to_string(o.nproc).c_str(), 1);
      ::setenv("MASTER_ADDR", o.master_addr.c_str(), 1);
      ::setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
      std::vector<char*> argv;
      argv.push_back(const_cast<char*>(exe.c_str()));
      for (const auto& a : o.args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      ::execv(exe.c_str(), argv.data());
      std::fprintf(stderr, "dmgn launch: cannot execute %s: %s\n", exe.c_str(), std::strerror(errno));
      ::_exit(127);
    }
    WorkerExit w;
    w.rank = r;
    w.pid = pid;
    result.workers.push_back(w);
    if (!o.quiet) std::fprintf(stderr, "dmgn launch: rank %d pid %d\n", r, static_cast<int>(pid));
  }

  g_forward = 0;
  auto prev_int = std::signal(SIGINT, on_launcher_signal);
  auto prev_term = std::signal(SIGTERM, on_launcher_signal);
  auto prev_usr1 = std::signal(SIGUSR1, on_launcher_signal);  // a scheduler's warning: requeue
  std::vector<bool> alive(static_cast<size_t>(o.nproc), true);
  int running = o.nproc;
  int forwarded = 0;
  bool failure = false;
  std::chrono::steady_clock::time_point kill_at{};
  while (running > 0) {
    if (const int sig = g_forward.load(); sig && sig != forwarded) {
      for (size_t i = 0; i < alive.size(); ++i)
        if (alive[i]) ::kill(result.workers[i].pid, sig);
      forwarded = sig;
    }
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid > 0) {
      for (size_t i = 0; i < result.workers.size(); ++i) {
        auto& w = result.workers[i];
        if (w.pid != pid || !alive[i]) continue;
        alive[i] = false;
        --running;
        if (WIFSIGNALED(status)) w.signal = WTERMSIG(status);
        if (WIFEXITED(status)) w.exit_code = WEXITSTATUS(status);
        // A worker that checkpointed and stopped on a signal (kExitInterrupted, or kExitRequeue
        // after SIGUSR1) has not failed.
        const bool stopped = w.exit_code == kExitInterrupted || w.exit_code == kExitRequeue;
        const bool bad = w.signal != 0 || (w.exit_code != 0 && !stopped);
        if (!bad && stopped && !failure) result.exit_code = w.exit_code;
        if (bad && !failure) {
          failure = true;
          w.failed_first = true;
          result.exit_code = w.signal ? 128 + w.signal : w.exit_code;
          result.message = describe(w);
          std::fprintf(stderr, "dmgn launch: %s; stopping the other workers\n", result.message.c_str());
          for (size_t j = 0; j < alive.size(); ++j)
            if (alive[j]) ::kill(result.workers[j].pid, SIGTERM);
          kill_at = std::chrono::steady_clock::now() +
                    std::chrono::milliseconds(static_cast<int64_t>(o.grace_s * 1000));
        }
      }
      continue;
    }
    if (pid < 0 && errno == ECHILD) break;
    if (failure && std::chrono::steady_clock::now() > kill_at) {
      for (size_t j = 0; j < alive.size(); ++j)
        if (alive[j]) ::kill(result.workers[j].pid, SIGKILL);
      kill_at = std::chrono::steady_clock::now() + std::chrono::hours(1);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::signal(SIGINT, prev_int);
  std::signal(SIGTERM, prev_term);
  std::signal(SIGUSR1, prev_usr1);
  return result;
}

}  // namespace dmgn::train
