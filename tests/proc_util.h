#pragma once
// Child processes of the dmgn binary for tests: started with execv (no shell, no quoting),
// in their own process group, stdout and stderr to a log file; waits with a timeout.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace dmgn::testing {

// experiments/base.toml of this source tree: the config the child-process tests start from.
inline const std::string kBaseConfig = std::string(DMGN_SOURCE_DIR) + "/experiments/base.toml";

struct Child {
  pid_t pid = -1;
  std::string log;
};

inline Child spawn_dmgn(const std::vector<std::string>& args, const std::string& log,
                        const std::map<std::string, std::string>& env = {}) {
  Child c;
  c.log = log;
  std::fflush(stdout);  // else the child's freopen would flush our buffered output again
  std::fflush(stderr);
  c.pid = ::fork();
  if (c.pid == 0) {
    ::setpgid(0, 0);
    FILE* f = std::freopen(log.c_str(), "w", stdout);
    if (!f || ::dup2(STDOUT_FILENO, STDERR_FILENO) < 0) ::_exit(126);
    for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
    std::vector<char*> argv{const_cast<char*>(DMGN_BINARY)};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(DMGN_BINARY, argv.data());
    ::_exit(127);
  }
  return c;
}

inline std::string read_text(const std::string& file) {
  std::ifstream in(file);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Exit code (128 + signal when killed), or -1 after `timeout_s` (the child is then killed).
inline int wait_child(const Child& c, double timeout_s) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  for (;;) {
    int status = 0;
    const pid_t r = ::waitpid(c.pid, &status, WNOHANG);
    if (r == c.pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (std::chrono::steady_clock::now() > end) {
      ::kill(-c.pid, SIGKILL);
      ::waitpid(c.pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

// Waits until the child's log contains `text`; false on timeout or when the child exited.
inline bool wait_for_text(const Child& c, const std::string& text, double timeout_s) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  while (std::chrono::steady_clock::now() < end) {
    if (read_text(c.log).find(text) != std::string::npos) return true;
    if (::kill(c.pid, 0) != 0) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

// Runs `dmgn ARGS` through the shell (ARGS is shell text), stdout and stderr together.
struct CliResult {
  int code = -1;
  std::string out;
};
// A shell command line, its stdout and stderr together.
inline CliResult run_shell(const std::string& command) {
  CliResult r;
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof buf, p)) r.out.append(buf, n);
  const int status = ::pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}
inline CliResult dmgn_shell(const std::string& args) { return run_shell(std::string(DMGN_BINARY) + " " + args); }

inline std::vector<std::string> with_sets(std::vector<std::string> args, const std::vector<std::string>& sets) {
  for (const auto& s : sets) {
    args.push_back("--set");
    args.push_back(s);
  }
  return args;
}

}  // namespace dmgn::testing
