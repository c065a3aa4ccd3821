// Runs that must not lose work or mislead (README, "Reliability"): one process per run (its
// lock), "died" for a run whose process is gone, exit status 3 and an exact resume command
// after a signal, run folders never shared between stores, stores readable from a read-only
// folder.
#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "process_test.h"
#include "store/liveness.h"
#include "store/run_store.h"
#include "test_util.h"
#include "train/builtins.h"
#include "train/trainer.h"

namespace {

namespace fs = std::filesystem;
using namespace dmgn::testing;  // NOLINT: child processes, logs, scratch folders
using dmgn::Config;

const std::string& kBase = kBaseConfig;

class Reliability : public ProcessTest {};

// The first checkpoint file under `runs`, or "" (polls until `timeout_s`).
fs::path wait_for_checkpoint(const fs::path& runs, const Child& c, double timeout_s) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  while (std::chrono::steady_clock::now() < end) {
    std::error_code ec;
    if (fs::exists(runs, ec))
      for (const auto& run : fs::directory_iterator(runs, ec))
        for (const auto& f : fs::directory_iterator(run.path() / "checkpoints", ec))
          if (f.path().extension() == ".ckpt") return f.path();
    if (::kill(c.pid, 0) != 0) return {};
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return {};
}

std::string only_run_status(const fs::path& store_file) {
  const dmgn::store::RunStore s(store_file, dmgn::store::RunStore::Access::read_only);
  const auto runs = s.runs();
  return runs.size() == 1 ? dmgn::store::live_status(runs[0]) : "<" + std::to_string(runs.size()) + " runs>";
}

TEST_F(Reliability, OneProcessPerRunDiedRunsAndTheExactResumeCommand) {
  const auto dir = dmgn::testing::scratch("one_process");
  auto sets = dmgn::testing::tiny_run(dir);
  for (const char* s : {"train.max_steps=100000", "train.checkpoint_every=2", "runtime.log_every=1",
                        "runtime.progress=true", "run.name=\"it's mine\""})  // a quote the hint must escape
    sets.push_back(s);
  const auto args = with_sets({"train", kBase}, sets);

  // A run killed with SIGKILL after its first checkpoint stays 'running' in the store, but no
  // process holds its lock: it shows as "died".
  const Child first = spawn_dmgn(args, (dir / "first.log").string());
  ASSERT_FALSE(wait_for_checkpoint(dir / "runs", first, 120).empty()) << read_text(first.log);
  EXPECT_EQ(only_run_status(dir / "runs.sqlite"), "running");
  ::kill(-first.pid, SIGKILL);
  wait_child(first, 30);
  EXPECT_EQ(only_run_status(dir / "runs.sqlite"), "died");
  const auto listed = dmgn::testing::dmgn_shell("runs --store " + (dir / "runs.sqlite").string());
  EXPECT_NE(listed.out.find("died"), std::string::npos) << listed.out;

  // One --resume continues it; a second one at the same time is refused, naming the holder.
  auto resume_args = args;
  resume_args.push_back("--resume");
  const Child one = spawn_dmgn(resume_args, (dir / "resume1.log").string());
  ASSERT_TRUE(dmgn::testing::wait_for_text(one, "resuming run 1", 120)) << read_text(one.log);
  EXPECT_EQ(only_run_status(dir / "runs.sqlite"), "running");
  const Child two = spawn_dmgn(resume_args, (dir / "resume2.log").string());
  EXPECT_EQ(wait_child(two, 120), 1) << read_text(two.log);
  const std::string refused = read_text(two.log);
  EXPECT_NE(refused.find("run 1 is being trained by another process (pid " + std::to_string(one.pid)),
            std::string::npos)
      << refused;
  EXPECT_EQ(refused.find("resuming run"), std::string::npos) << refused;

  // SIGTERM: a checkpoint, status interrupted, exit status 3 (not 0), and a resume command that,
  // run as printed, continues exactly this run (the same overrides, so the same config hash).
  ::kill(one.pid, SIGTERM);
  EXPECT_EQ(wait_child(one, 120), dmgn::kExitInterrupted) << read_text(one.log);
  const std::string log = read_text(one.log);
  const auto at = log.find("continue with: ");
  ASSERT_NE(at, std::string::npos) << log;
  const std::string command = log.substr(at + 15, log.find('\n', at) - at - 15);
  EXPECT_NE(command.find("'run.name=\"it'\\''s mine\"'"), std::string::npos) << command;
  EXPECT_NE(command.find(" --resume"), std::string::npos) << command;
  EXPECT_EQ(only_run_status(dir / "runs.sqlite"), "interrupted");

  // The printed command, given to a shell as is (with `dmgn` meaning this build).
  const std::string shell = "cd '" + std::string(DMGN_SOURCE_DIR) + "' && PATH='" +
                            fs::path(DMGN_BINARY).parent_path().string() + "':$PATH exec " + command;
  const Child again = [&] {
    Child c;
    c.log = (dir / "again.log").string();
    c.pid = ::fork();
    if (c.pid == 0) {
      ::setpgid(0, 0);
      if (!std::freopen(c.log.c_str(), "w", stdout) || ::dup2(STDOUT_FILENO, STDERR_FILENO) < 0) ::_exit(126);
      ::execl("/bin/sh", "sh", "-c", shell.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    return c;
  }();
  EXPECT_TRUE(dmgn::testing::wait_for_text(again, "resuming run 1", 120)) << read_text(again.log);
  EXPECT_TRUE(dmgn::testing::wait_for_text(again, "/100000 |", 120)) << read_text(again.log);  // training
  ::kill(-again.pid, SIGTERM);
  EXPECT_EQ(wait_child(again, 120), dmgn::kExitInterrupted) << read_text(again.log);
  const dmgn::store::RunStore store(dir / "runs.sqlite");
  EXPECT_EQ(store.runs().size(), 1u);  // never a second, fresh run
}

TEST_F(Reliability, RunFoldersAreNeverSharedBetweenStores) {
  // Two stores (or a store deleted and made again) with one out_dir both number their first
  // run 1: the folders must still differ, and neither run may touch the other's files.
  const auto dir = dmgn::testing::scratch("shared_out_dir");
  std::vector<fs::path> folders;
  for (const char* store : {"a.sqlite", "b.sqlite"}) {
    auto o = dmgn::testing::tiny_run(dir);
    for (const char* s : {"train.max_steps=2", "train.checkpoint_every=1"}) o.push_back(s);
    o.push_back("runtime.store=\"" + (dir / store).string() + "\"");
    const auto s = dmgn::train::run_training(Config::defaults(o));
    EXPECT_EQ(s.run_id, 1);
    folders.push_back(s.run_dir);
  }
  ASSERT_NE(folders[0], folders[1]);
  EXPECT_EQ(folders[0].parent_path(), folders[1].parent_path());
  for (const auto& f : folders) {
    EXPECT_TRUE(fs::exists(f / "checkpoints" / "step_00000002.ckpt")) << f;
    EXPECT_TRUE(fs::exists(f / "run.lock")) << f;
  }
  // <id>-<config hash>-<8 hex digits>
  EXPECT_EQ(folders[0].filename().string().size(), 5u + 1 + 12 + 1 + 8) << folders[0];
}

// Runs `dmgn ARGS...` as an unprivileged user when this process is root (root ignores file
// permissions, so a read-only folder is read-only only for others).
dmgn::testing::CliResult run_unprivileged(const std::vector<std::string>& args, const fs::path& log) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (!std::freopen(log.c_str(), "w", stdout) || ::dup2(STDOUT_FILENO, STDERR_FILENO) < 0) ::_exit(126);
    if (::geteuid() == 0) {
      const passwd* nobody = ::getpwnam("nobody");
      if (!nobody || ::setgid(nobody->pw_gid) != 0 || ::setuid(nobody->pw_uid) != 0) ::_exit(125);
    }
    std::vector<char*> argv{const_cast<char*>(DMGN_BINARY)};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(DMGN_BINARY, argv.data());
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, read_text(log.string())};
}

TEST_F(Reliability, AStoreThatCannotBeWrittenCanStillBeRead) {
  const auto dir = dmgn::testing::scratch("read_only_store");
  const fs::path folder = dir / "ro";
  fs::create_directories(folder);
  const fs::path file = folder / "runs.sqlite";
  {
    dmgn::store::RunStore s(file);
    dmgn::store::RunInfo info;
    info.name = "stored";
    info.experiment = "table1";
    s.finish_run(s.begin_run(info), "completed");
  }
  // The folder (and the store) now read-only for the user who lists it.
  fs::permissions(file, fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read);
  fs::permissions(folder, fs::perms::owner_read | fs::perms::owner_exec | fs::perms::group_read |
                              fs::perms::group_exec | fs::perms::others_read | fs::perms::others_exec);
  const auto listed = run_unprivileged({"runs", "--store", file.string()}, dir / "runs.log");
  EXPECT_EQ(listed.code, 0) << listed.out;
  EXPECT_NE(listed.out.find("table1"), std::string::npos) << listed.out;
  const auto report = run_unprivileged({"report", "table1", "--store", file.string()}, dir / "report.log");
  EXPECT_EQ(report.code, 0) << report.out;
  EXPECT_EQ(report.out.find("read-only"), std::string::npos) << report.out;
  EXPECT_NE(report.out.find("report not recorded"), std::string::npos) << report.out;  // said, not an error
  EXPECT_FALSE(fs::exists(folder / "runs.sqlite-wal"));  // nothing written beside it

  // Writing to a read-only store: one short line, no SQL statement.
  dmgn::store::RunStore ro(file, dmgn::store::RunStore::Access::read_only);
  const std::string err = dmgn::testing::error_of<dmgn::StoreError>([&] { ro.begin_run({}); });
  EXPECT_NE(err.find("read-only"), std::string::npos) << err;
  EXPECT_EQ(err.find("INSERT INTO runs(config_hash"), std::string::npos) << err;
  EXPECT_LT(err.size(), 300u) << err;
  fs::permissions(folder, fs::perms::owner_all, fs::perm_options::add);

  // Writable again: the report is recorded (runs, provenance, verdicts) and listed.
  fs::permissions(file, fs::perms::owner_write, fs::perm_options::add);
  const std::string store_arg = " --store '" + file.string() + "'";
  const auto recorded = dmgn::testing::dmgn_shell("report table1" + store_arg);
  EXPECT_EQ(recorded.code, 0) << recorded.out;
  EXPECT_NE(recorded.out.find("recorded as report 1"), std::string::npos) << recorded.out;
  const auto reports = dmgn::testing::dmgn_shell("reports --provenance" + store_arg);
  EXPECT_EQ(reports.code, 0) << reports.out;
  EXPECT_NE(reports.out.find("report 1  table1"), std::string::npos) << reports.out;
  EXPECT_NE(reports.out.find("Table I: ablation of DMGN"), std::string::npos) << reports.out;
  const auto none = dmgn::testing::dmgn_shell("report table1 --no-record" + store_arg);
  EXPECT_EQ(none.out.find("recorded as report"), std::string::npos) << none.out;
  EXPECT_EQ(dmgn::store::RunStore(file).reports().size(), 1u);
}

}  // namespace
