#pragma once
// Advisory whole-file locks (flock) that the operating system releases when the process that
// holds one ends, however it ends (exit, exception, SIGKILL, out of memory): what tells a live
// run from a dead one, and keeps two processes from training the same run.
#include <filesystem>
#include <optional>
#include <string>

namespace dmgn {

class FileLock {
 public:
  // Takes an exclusive lock on `file` (created if missing) without waiting; nullopt when another
  // process holds it. With `inherit`, the descriptor survives exec (a parent handing the lock to
  // the child it starts); otherwise it is close-on-exec, so no child keeps a dead parent's lock.
  // IoError naming the file when it cannot be opened.
  static std::optional<FileLock> try_acquire(const std::filesystem::path& file, bool inherit = false);
  FileLock(FileLock&& other) noexcept;
  FileLock& operator=(FileLock&& other) noexcept;
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  ~FileLock();  // releases the lock

  // Replaces the file's text, e.g. "pid 1234 on host" for whoever finds it locked.
  void describe(const std::string& text);
  int fd() const { return fd_; }

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

// Whether some process holds a lock on `file`; false when the file does not exist (nothing is
// created: the folder may be read-only).
bool file_lock_held(const std::filesystem::path& file);
// The text the holder wrote with describe() ("" when none or unreadable).
std::string file_lock_text(const std::filesystem::path& file);

}  // namespace dmgn
