#include "train/threads.h"

#include <fmt/format.h>
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "core/log.h"
#include "train/trainer.h"

namespace dmgn::train {

CpuTimes read_cpu_times() {
  CpuTimes t;
  const double hz = static_cast<double>(::sysconf(_SC_CLK_TCK));
  if (hz <= 0) return t;
  std::ifstream stat("/proc/stat");
  std::string label;
  if (!(stat >> label) || label != "cpu") return t;
  double v[8] = {0};  // user nice system idle iowait irq softirq steal
  for (double& x : v)
    if (!(stat >> x)) return t;
  const double busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
  std::ifstream self("/proc/self/stat");
  std::string line;
  if (!std::getline(self, line)) return t;
  // Fields after the command name (which may hold spaces, inside parentheses): utime is the 14th
  // field of the line, stime the 15th.
  const auto close = line.rfind(')');
  if (close == std::string::npos) return t;
  std::istringstream rest(line.substr(close + 2));
  std::string field;
  double utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stod(field);
    if (i == 15) stime = std::stod(field);
  }
  t.busy = busy / hz;
  t.own = (utime + stime) / hz;
  return t;
}

int free_core_threads(int cores, double busy_elsewhere) {
  const double free = static_cast<double>(cores) - std::max(0.0, busy_elsewhere);
  return std::clamp(static_cast<int>(std::lround(free)), 1, std::max(1, cores));
}

ThreadGovernor::ThreadGovernor(const Config& cfg, double interval_s) : interval_s_(interval_s) {
  apply_threads(cfg);
  adaptive_ = cfg.get_int("runtime.threads") == 0;
  cores_ = std::max(1u, std::thread::hardware_concurrency());
  threads_ = torch::get_num_threads();
  last_ = std::chrono::steady_clock::now();
  times_ = read_cpu_times();
  if (times_.busy < 0) adaptive_ = false;  // no /proc: keep every core
}

void ThreadGovernor::tick() {
  if (!adaptive_) return;
  const auto now = std::chrono::steady_clock::now();
  const double wall = std::chrono::duration<double>(now - last_).count();
  if (wall < interval_s_) return;
  const CpuTimes t = read_cpu_times();
  if (t.busy < 0) return;
  const double elsewhere = ((t.busy - times_.busy) - (t.own - times_.own)) / wall;
  last_ = now;
  times_ = t;
  const int want = free_core_threads(cores_, elsewhere);
  if (want == threads_) return;
  log::info(fmt::format("threads: {} -> {} (other processes keep {:.1f} of {} cores busy; runtime.threads = 0 "
                        "follows the free cores)",
                        threads_, want, std::max(0.0, elsewhere), cores_));
  torch::set_num_threads(want);
  threads_ = want;
}

}  // namespace dmgn::train
