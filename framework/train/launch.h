#pragma once
// Local launcher: `dmgn launch --nproc N -- train CONFIG ...` starts N copies of this
// executable with the torchrun variables set (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE,
// MASTER_ADDR, MASTER_PORT; a free port when none is given) and waits for them. When a
// worker fails (non-zero exit or a signal), the others get SIGTERM and, after a grace period,
// SIGKILL; the launcher then reports which rank failed and how, and exits non-zero.
// SIGINT/SIGTERM/SIGUSR1 sent to the launcher are forwarded to the workers (which checkpoint and stop).
#include <string>
#include <vector>

namespace dmgn::train {

struct LaunchOptions {
  int nproc = 2;
  std::vector<std::string> args;  // the worker's command line after the program name
  std::string master_addr = "127.0.0.1";
  int master_port = 0;            // 0 = a free port chosen by the launcher
  double grace_s = 10;            // SIGTERM -> SIGKILL delay for the survivors of a failure
  bool quiet = false;             // no launcher messages on stderr (except failures)
};

struct WorkerExit {
  int rank = 0;
  int pid = 0;
  int exit_code = 0;    // when it exited
  int signal = 0;       // when a signal ended it
  bool failed_first = false;
};

struct LaunchResult {
  int exit_code = 0;  // 0 when every worker succeeded, else the first failure's code (128 + signal)
  std::vector<WorkerExit> workers;
  std::string message;  // "rank 1 (pid 123) was killed by signal 9", empty on success
};

LaunchResult launch_local(const LaunchOptions& options);

// The path of this executable (/proc/self/exe), for starting copies of it.
std::string self_executable();

// A TCP port that is free on 127.0.0.1 right now.
int free_tcp_port();

}  // namespace dmgn::train
