#include "sweep/runner.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <deque>
#include <fstream>
#include <map>
#include <thread>

#include "core/error.h"
#include "core/file_lock.h"
#include "store/liveness.h"
#include "train/launch.h"

namespace dmgn::sweep {
namespace fs = std::filesystem;

namespace {

std::atomic<int> g_signal{0};
extern "C" void on_sweep_signal(int sig) { g_signal = sig; }

fs::path store_dir(const SweepRun& run) {
  const fs::path dir = fs::path(run.store).parent_path();
  return dir.empty() ? fs::path(".") : dir;
}

RunStatus status_of(const SweepRun& run, const store::RunStore* store) {
  RunStatus s;
  s.run = run;
  if (store) {
    store::RunFilter f;
    f.config_hash = run.hash;
    const auto rows = store->runs(f);
    // A completed run wins; else the most recent one tells the state.
    for (const auto& r : rows)
      if (r.status == "completed") s.row = r;
    if (s.row) {
      s.state = State::done;
      s.test = store->final_metrics(s.row->id, "test");
      return s;
    }
    if (!rows.empty()) {
      s.row = rows.back();
      const std::string& st = s.row->status;
      s.state = st == "failed" ? State::failed : State::interrupted;  // 'running' without a live lock = died
    }
  }
  // Running: a sweep worker holds the sweep's lock on it, or any process holds the run's own
  // lock (a `dmgn train --resume` started by hand): either way not ours to start.
  if (file_lock_held(lock_file(run, /*create=*/false)) || (s.row && store::live_status(*s.row) == "running"))
    s.state = State::running;
  return s;
}

std::string duration_text(double s) {
  const int64_t t = static_cast<int64_t>(s + 0.5);
  if (t >= 3600) return fmt::format("{}h{:02d}m", t / 3600, (t % 3600) / 60);
  if (t >= 60) return fmt::format("{}m{:02d}s", t / 60, t % 60);
  return fmt::format("{}s", t);
}

std::string metrics_text(const std::vector<store::Metric>& test) {
  std::string out;
  for (const auto& m : test)
    if (m.name == "psnr") {
      std::string ssim;
      for (const auto& n : test)
        if (n.name == "ssim" && n.dataset == m.dataset) ssim = fmt::format(" SSIM {:.4f}", n.value);
      out += fmt::format("{}{} PSNR {:.2f}{}", out.empty() ? "" : "; ", m.dataset, m.value, ssim);
    }
  return out;
}

// The last non-empty line of a log file (the child's error message).
std::string last_line(const fs::path& file) {
  std::ifstream in(file);
  std::string line, last;
  while (std::getline(in, line))
    if (line.find_first_not_of(" \t\r") != std::string::npos) last = line;
  return last;
}

struct Active {
  RunStatus status;
  pid_t pid = -1;
  fs::path log;
  std::chrono::steady_clock::time_point started;
};

pid_t spawn(const std::string& exe, const std::vector<std::string>& args, const fs::path& log, int lock_fd) {
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t pid = ::fork();
  if (pid < 0) throw IoError(fmt::format("cannot start a sweep worker: {}", std::strerror(errno)));
  if (pid == 0) {
    ::setpgid(0, 0);  // signals reach it only through us
    const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (out < 0 || ::dup2(out, STDOUT_FILENO) < 0 || ::dup2(out, STDERR_FILENO) < 0) ::_exit(126);
    ::close(out);
    (void)lock_fd;  // stays open across exec: the child holds the run's lock until it exits
    std::vector<char*> argv{const_cast<char*>(exe.c_str())};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(exe.c_str(), argv.data());
    ::_exit(127);
  }
  return pid;
}

}  // namespace

const char* state_name(State s) {
  switch (s) {
    case State::not_started: return "to do";
    case State::running: return "running";
    case State::done: return "done";
    case State::failed: return "failed";
    case State::interrupted: return "interrupted";
  }
  return "?";
}

fs::path lock_file(const SweepRun& run, bool create) {
  const fs::path dir = store_dir(run) / "sweep_locks";
  if (create) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) throw IoError(fmt::format("cannot create '{}': {}", dir.string(), ec.message()));
  }
  return dir / (run.hash + ".lock");
}


std::vector<RunStatus> sweep_status(const std::vector<SweepRun>& runs) {
  std::map<std::string, std::unique_ptr<store::RunStore>> stores;
  std::vector<RunStatus> out;
  for (const auto& run : runs) {
    auto it = stores.find(run.store);
    if (it == stores.end())
      it = stores
               .emplace(run.store, fs::exists(run.store) ? std::make_unique<store::RunStore>(
                                                              run.store, store::RunStore::Access::read_only)
                                                        : nullptr)
               .first;
    out.push_back(status_of(run, it->second.get()));
  }
  return out;
}

std::string count_line(const std::vector<RunStatus>& status) {
  std::map<State, int> n;
  for (const auto& s : status) ++n[s.state];
  return fmt::format("{} done, {} running, {} failed, {} interrupted, {} to do", n[State::done], n[State::running],
                     n[State::failed], n[State::interrupted], n[State::not_started]);
}

std::string format_status(const SweepSpec& spec, const std::vector<RunStatus>& status) {
  size_t w = 7;
  for (const auto& s : status) w = std::max(w, s.run.variant.size());
  std::string out = fmt::format("sweep {} ({}): {} runs: {}\n", spec.name, spec.file.string(), status.size(),
                                count_line(status));
  out += fmt::format("{:>4}  {:<{}}  {:>5}  {:<11}  {:>5}  {:<12}  {}\n", "#", "variant", w, "seed", "state", "run",
                     "hash", "test");
  for (const auto& s : status)
    out += fmt::format("{:>4}  {:<{}}  {:>5}  {:<11}  {:>5}  {:<12}  {}\n", s.run.index, s.run.variant, w,
                       s.run.seed, state_name(s.state), s.row ? std::to_string(s.row->id) : "-",
                       s.run.hash.substr(0, 12), s.state == State::done ? metrics_text(s.test) : "");
  return out;
}

SweepOutcome run_sweep(const SweepSpec& spec, const SweepOptions& o) {
  if (o.workers < 1) throw ConfigError(fmt::format("--workers must be >= 1 (got {})", o.workers));
  const auto runs = expand(spec, o.extra_sets);
  const auto initial = sweep_status(runs);
  SweepOutcome out;
  out.total = static_cast<int>(runs.size());
  std::deque<RunStatus> queue;
  for (const auto& s : initial) {
    if (s.state == State::done)
      ++out.already_done;
    else if (s.state == State::running)
      ++out.busy_elsewhere;
    else if (s.state != State::failed || o.retry_failed)
      queue.push_back(s);
  }
  const int failed_kept = static_cast<int>(std::count_if(initial.begin(), initial.end(), [&](const RunStatus& s) {
    return s.state == State::failed && !o.retry_failed;
  }));
  if (!o.quiet) {
    std::printf("sweep %s: %d runs: %s\n", spec.name.c_str(), out.total, count_line(initial).c_str());
    if (failed_kept) std::printf("  %d failed run(s) are not retried (use --retry-failed)\n", failed_kept);
  }
  if (o.dry_run) {
    for (const auto& s : queue)
      std::printf("  would %s #%d %s (hash %s)\n", s.state == State::not_started ? "start" : "resume", s.run.index,
                  s.run.label().c_str(), s.run.hash.substr(0, 12).c_str());
    return out;
  }
  for (const auto& s : initial)
    if (s.state == State::failed && !o.retry_failed)
      out.failures.push_back(fmt::format("{}: failed earlier (run {}); not retried", s.run.label(), s.row->id));

  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  const int threads = o.threads > 0 ? o.threads
                                    : std::max(1, static_cast<int>(cores) / (o.workers * std::max(1, spec.nproc)));
  const std::string exe = train::self_executable();
  g_signal = 0;
  auto prev_int = std::signal(SIGINT, on_sweep_signal);
  auto prev_term = std::signal(SIGTERM, on_sweep_signal);
  std::vector<Active> active;
  const int queued = static_cast<int>(queue.size());
  int finished = 0;

  auto start_next = [&]() {
    while (!queue.empty() && static_cast<int>(active.size()) < o.workers && !g_signal) {
      RunStatus s = queue.front();
      queue.pop_front();
      // Inherited by the worker across exec: it holds the sweep's lock on the run until it ends.
      auto lock = FileLock::try_acquire(lock_file(s.run), /*inherit=*/true);
      if (!lock) {
        ++out.busy_elsewhere;
        if (!o.quiet) std::printf("  #%d %s: running in another process, skipped\n", s.run.index, s.run.label().c_str());
        continue;
      }
      // Another sweep process may have finished it since we looked.
      if (fs::exists(s.run.store)) {
        const store::RunStore store(s.run.store);
        if (status_of(s.run, &store).state == State::done) {
          ++out.already_done;
          continue;
        }
      }
      const fs::path dir = o.log_dir.empty() ? store_dir(s.run) / "sweeps" / spec.name : o.log_dir;
      std::error_code ec;
      fs::create_directories(dir, ec);
      if (ec) throw IoError(fmt::format("cannot create the sweep log folder '{}': {}", dir.string(), ec.message()));
      const fs::path log = dir / fmt::format("{:03d}-{}.log", s.run.index, s.run.hash.substr(0, 12));
      fs::path config = s.run.config;
      if (!s.run.layers.empty()) {  // the worker reads the generated `extends` file
        config = dir / "configs" / fmt::format("{:03d}-{}.toml", s.run.index, s.run.hash.substr(0, 12));
        fs::create_directories(config.parent_path(), ec);
        std::ofstream(config) << s.run.config_text();
        if (!fs::exists(config)) throw IoError(fmt::format("cannot write '{}'", config.string()));
      }
      std::vector<std::string> train{"train", config.string(), "--resume"};
      if (o.threads <= 0) train.insert(train.end(), {"--set", fmt::format("runtime.threads={}", threads)});
      for (const auto& set : s.run.sets) train.insert(train.end(), {"--set", set});
      if (o.threads > 0) train.insert(train.end(), {"--set", fmt::format("runtime.threads={}", threads)});
      std::vector<std::string> args;
      if (spec.nproc > 1) args = {"launch", "--nproc", std::to_string(spec.nproc), "--"};
      args.insert(args.end(), train.begin(), train.end());
      Active a;
      a.status = s;
      a.log = log;
      a.started = std::chrono::steady_clock::now();
      a.pid = spawn(exe, args, log, lock->fd());
      ++out.started;
      if (!o.quiet)
        std::printf("  start  #%d %s%s (log %s)\n", s.run.index, s.run.label().c_str(),
                    s.state == State::interrupted ? ", resuming" : "", log.string().c_str());
      std::fflush(stdout);
      active.push_back(std::move(a));
    }
  };

  bool forwarded = false;
  start_next();
  while (!active.empty()) {
    if (g_signal && !forwarded) {
      forwarded = true;
      out.interrupted = true;
      for (const auto& a : active) ::kill(-a.pid, SIGTERM);
      if (!o.quiet) std::printf("sweep: signal %d: asked %zu run(s) to checkpoint and stop\n", g_signal.load(), active.size());
    }
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid <= 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      continue;
    }
    const auto it = std::find_if(active.begin(), active.end(), [&](const Active& a) { return a.pid == pid; });
    if (it == active.end()) continue;
    const Active a = *it;
    active.erase(it);
    ++finished;
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - a.started).count();
    std::optional<RunStatus> now;
    if (fs::exists(a.status.run.store)) {
      const store::RunStore store(a.status.run.store);
      now = status_of(a.status.run, &store);
    }
    const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0 && now && now->state == State::done;
    if (ok) {
      ++out.completed;
      if (!o.quiet)
        std::printf("  done   #%d %s: run %lld in %s; %s  [%d/%d]\n", a.status.run.index, a.status.run.label().c_str(),
                    static_cast<long long>(now->row->id), duration_text(secs).c_str(), metrics_text(now->test).c_str(),
                    finished, queued);
    } else if (out.interrupted || (WIFEXITED(status) && (WEXITSTATUS(status) == kExitInterrupted ||
                                                         WEXITSTATUS(status) == kExitRequeue))) {
      // Stopped by us, or by a signal sent to the run itself: checkpointed, resumable.
      if (!o.quiet) std::printf("  stopped #%d %s after %s\n", a.status.run.index, a.status.run.label().c_str(),
                                duration_text(secs).c_str());
    } else {
      ++out.failed;
      const std::string how = WIFSIGNALED(status) ? fmt::format("killed by signal {}", WTERMSIG(status))
                                                  : fmt::format("exit code {}", WEXITSTATUS(status));
      const std::string why = last_line(a.log);
      out.failures.push_back(fmt::format("{}: {}: {} (log: {})", a.status.run.label(), how, why, a.log.string()));
      if (!o.quiet)
        std::printf("  FAILED #%d %s: %s: %s (log %s)  [%d/%d]\n", a.status.run.index, a.status.run.label().c_str(),
                    how.c_str(), why.c_str(), a.log.string().c_str(), finished, queued);
    }
    std::fflush(stdout);
    start_next();
  }
  std::signal(SIGINT, prev_int);
  std::signal(SIGTERM, prev_term);
  if (g_signal) out.interrupted = true;
  return out;
}

}  // namespace dmgn::sweep
