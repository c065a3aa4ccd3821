#pragma once
// Errors: every exception names the file, key, sample or component at fault.
// The CLI prints what() as one line and exits non-zero.
#include <stdexcept>
#include <string>

namespace dmgn {

// The exit status of a dmgn process whose work a signal stopped after writing a checkpoint
// (train, sweep, launch): resumable, distinct from completion (0) and from errors (1).
inline constexpr int kExitInterrupted = 3;
// The same, where the signal was SIGUSR1 (a scheduler's warning before a time limit or a
// preemption): checkpointed, and the job should be requeued to resume (dmgn's Slurm scripts do).
inline constexpr int kExitRequeue = 4;


struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct ConfigError : Error {  // bad/unknown key, wrong type, malformed TOML
  using Error::Error;
};
struct RegistryError : Error {  // unknown component name
  using Error::Error;
};
struct DataError : Error {  // image that fails to decode, empty dataset, ...
  using Error::Error;
};
struct IoError : Error {  // missing file, unwritable folder, ...
  using Error::Error;
};
struct StoreError : Error {  // SQLite failures
  using Error::Error;
};
// The first line of an exception's message (c10::Error without its C++ backtrace): what the
// CLI prints and what wrapped errors quote.
std::string error_summary(const std::exception& e);

struct DistError : Error {  // rendezvous, a rank that never arrived or died, collective failures
  using Error::Error;
};

}  // namespace dmgn
