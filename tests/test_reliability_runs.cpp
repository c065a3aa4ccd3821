// Runs that must not lose work or mislead (README, "Reliability"): one process per run (its
// lock), "died" for a run whose process is gone, exit status 3 and an exact resume command
// after a signal, run folders never shared between stores, stores readable from a read-only
// folder.
#include <gtest/gtest.h>
#include <pwd.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <tuple>
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


// ---- Stores on a full disk and on read-only media: the real conditions, made without
// privileges in a user + mount namespace (`unshare -rm`: a small tmpfs filled to its last
// byte, a read-only bind mount), with the dmgn binary run inside it.

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// Why this machine cannot make mounts in a user namespace, or "" when it can.
std::string mount_namespace_unavailable() {
  const auto dir = dmgn::testing::scratch("mount_probe");
  const auto r = run_shell("unshare -rm sh -c 'mount -t tmpfs tmpfs \"$0\" && mount --bind -o ro \"$0\" \"$0\"' " +
                           shell_quote(dir.string()));
  return r.code == 0 ? "" : "no user + mount namespace with a tmpfs and a read-only bind mount here (`unshare -rm`): " + r.out;
}

// Runs `script` (sh) as root of a new user + mount namespace; each `run NAME CMD...` in it
// leaves CMD's output in <log>/NAME.out and its exit status in <log>/NAME.rc. $DMGN is the
// dmgn binary. Returns the script's own output and status.
dmgn::testing::CliResult in_mount_namespace(const fs::path& dir, const fs::path& log, const std::string& script) {
  fs::create_directories(log);
  const fs::path file = dir / "namespace.sh";
  std::ofstream(file) << "export DMGN=" << shell_quote(DMGN_BINARY) << "\nLOG=" << shell_quote(log.string())
                      << "\nrun() { name=$1; shift; \"$@\" >\"$LOG/$name.out\" 2>&1; echo $? >\"$LOG/$name.rc\"; }\n"
                      << script;
  return run_shell("unshare -rm sh " + shell_quote(file.string()));
}

struct Step {
  int code = -2;  // -2: the step did not run
  std::string out;
};

Step step(const fs::path& log, const std::string& name) {
  Step s;
  s.out = read_text((log / (name + ".out")).string());
  const std::string rc = read_text((log / (name + ".rc")).string());
  if (!rc.empty()) s.code = std::stoi(rc);
  return s;
}

// The lines of `out` that report an error ("dmgn: error: ...").
std::vector<std::string> error_lines(const std::string& out) {
  std::vector<std::string> lines;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);)
    if (line.find("dmgn: error") != std::string::npos) lines.push_back(line);
  return lines;
}

// The training steps "train" and "crashed_train" (a fresh run and a resumed one) each failed with
// exactly one short error line that says `why` and names `where`.
void expect_training_refused(const fs::path& log, const std::string& why, const std::string& where) {
  for (const char* name : {"train", "crashed_train"}) {
    const Step train = step(log, name);
    EXPECT_EQ(train.code, 1) << name << ": " << train.out;
    const auto errors = error_lines(train.out);
    ASSERT_EQ(errors.size(), 1u) << name << ": " << train.out;
    EXPECT_NE(errors[0].find(why), std::string::npos) << errors[0];
    EXPECT_NE(errors[0].find(where), std::string::npos) << errors[0];
    EXPECT_EQ(errors[0].find("disk I/O error"), std::string::npos) << errors[0];
    EXPECT_LT(errors[0].size(), 300u) << errors[0];
  }
}

// A store with two completed runs (experiment table1, variants `a` and `b`), closed: one file,
// no -wal or -shm beside it.
void make_store(const fs::path& file, const std::string& a, const std::string& b) {
  dmgn::store::RunStore s(file);
  for (const auto& variant : {a, b}) {
    dmgn::store::RunInfo info;
    info.experiment = "table1";
    info.variant = variant;
    info.config_hash = variant + "0000000000";
    s.finish_run(s.begin_run(info), "completed");
  }
}

// The files of a store as a writer that crashed would leave them: the store, its -wal holding
// every run (not checkpointed yet) and its -shm, copied into `to` while the writer has them open.
void make_crashed_store(const fs::path& scratch_dir, const fs::path& to, const std::string& a, const std::string& b,
                        bool with_shm = true) {
  const fs::path live = scratch_dir / ("live_" + a) / "runs.sqlite";
  fs::create_directories(live.parent_path());
  fs::create_directories(to);
  dmgn::store::RunStore s(live);
  for (const auto& variant : {a, b}) {
    dmgn::store::RunInfo info;
    info.experiment = "table1";
    info.variant = variant;
    s.finish_run(s.begin_run(info), "completed");
  }
  for (const char* suffix : {"", "-wal", "-shm"}) {
    if (!with_shm && std::string(suffix) == "-shm") continue;
    fs::copy_file(live.string() + suffix, to / (std::string("runs.sqlite") + suffix));
  }
  ASSERT_LE(fs::file_size(to / "runs.sqlite"), 4096u);  // its first page only: the runs are in the -wal
}

// SQLite's integrity check of `file` ("ok" when the store is sound).
std::string integrity(const fs::path& file) {
  sqlite3* db = nullptr;
  std::string out;
  if (sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK)
    sqlite3_exec(db, "PRAGMA integrity_check", [](void* o, int, char** v, char**) {
      *static_cast<std::string*>(o) += v[0] ? v[0] : "";
      return 0;
    }, &out, nullptr);
  sqlite3_close(db);
  return out;
}

// `dmgn train` (tiny, one step) writing to `store`, as shell words.
std::string train_command(const fs::path& dir, const fs::path& store) {
  std::string cmd = "\"$DMGN\" train " + shell_quote(kBase);
  auto sets = dmgn::testing::tiny_run(dir);
  sets.push_back("train.max_steps=1");
  sets.push_back("runtime.store=\"" + store.string() + "\"");
  for (const auto& s : sets) cmd += " --set " + shell_quote(s);
  return cmd;
}

TEST_F(Reliability, AStoreOnAFullDiskCanStillBeReadAndLosesNothing) {
  if (const auto why = mount_namespace_unavailable(); !why.empty()) GTEST_SKIP() << why;
  const auto dir = dmgn::testing::scratch("full_disk");
  make_store(dir / "clean.sqlite", "clean_a", "clean_b");
  make_crashed_store(dir, dir / "crashed", "wal_a", "wal_b");
  make_crashed_store(dir, dir / "wal_only", "lost_a", "lost_b", /*with_shm=*/false);
  const fs::path disk = dir / "disk", inodes = dir / "inodes", after = dir / "after", log = dir / "log";
  for (const auto& d : {disk, inodes, after}) fs::create_directories(d);
  const std::string D = shell_quote(disk.string()), I = shell_quote(inodes.string());
  const auto ns = in_mount_namespace(dir, log,
      // A device with blocks left but no inode: no -wal or -shm can be created at all.
      "mount -t tmpfs -o size=1m,nr_inodes=8 tmpfs " + I + " || exit 9\n"
      "cp " + shell_quote((dir / "clean.sqlite").string()) + " " + I + "/clean.sqlite\n"
      "mkdir " + I + "/wal_only && cp " + shell_quote((dir / "wal_only").string()) + "/* " + I + "/wal_only/\n"
      "i=0; while touch " + I + "/f$i 2>/dev/null; do i=$((i+1)); done\n"
      "run inodes_free stat -f -c %d " + I + "\n"
      "run inodes_runs \"$DMGN\" runs --store " + I + "/clean.sqlite\n"
      "run inodes_report \"$DMGN\" report table1 --store " + I + "/clean.sqlite\n"
      "run inodes_wal_only \"$DMGN\" runs --store " + I + "/wal_only/runs.sqlite\n"
      // A device full to the last byte.
      "mount -t tmpfs -o size=1m tmpfs " + D + " || exit 9\n"
      "cp " + shell_quote((dir / "clean.sqlite").string()) + " " + D + "/clean.sqlite\n"
      "mkdir " + D + "/crashed && cp " + shell_quote((dir / "crashed").string()) + "/* " + D + "/crashed/\n"
      // To the last byte: blocks, then bytes.
      "dd if=/dev/zero of=" + D + "/fill bs=4096 2>/dev/null; dd if=/dev/zero of=" + D + "/fill2 bs=1 2>/dev/null\n"
      "run free stat -f -c %a " + D + "\n"
      "run runs \"$DMGN\" runs --store " + D + "/clean.sqlite\n"
      "run train sh -c " + shell_quote(train_command(dir, disk / "clean.sqlite")) + "\n"
      "run report \"$DMGN\" report table1 --store " + D + "/clean.sqlite\n"
      "run runs_after \"$DMGN\" runs --store " + D + "/clean.sqlite\n"
      "run studies \"$DMGN\" study list --store " + D + "/clean.sqlite\n"
      "run crashed_runs \"$DMGN\" runs --store " + D + "/crashed/runs.sqlite\n"
      "run crashed_train sh -c " + shell_quote(train_command(dir, disk / "crashed" / "runs.sqlite")) + "\n"
      "run crashed_runs_after \"$DMGN\" runs --store " + D + "/crashed/runs.sqlite\n"
      // Space again: what is on the disk now, for the checks below.
      "rm " + D + "/fill " + D + "/fill2\n"
      "mkdir " + shell_quote((after / "crashed").string()) + "\n"
      "cp " + D + "/clean.sqlite* " + shell_quote(after.string()) + "/\n"
      "cp " + D + "/crashed/runs.sqlite* " + shell_quote((after / "crashed").string()) + "/\n");
  ASSERT_EQ(ns.code, 0) << ns.out;
  ASSERT_EQ(step(log, "free").out, "0\n") << "the tmpfs is not full";

  // Reading a full disk's store lists its runs.
  const Step runs = step(log, "runs");
  EXPECT_EQ(runs.code, 0) << runs.out;
  EXPECT_NE(runs.out.find("table1/clean_a"), std::string::npos) << runs.out;
  EXPECT_NE(runs.out.find("table1/clean_b"), std::string::npos) << runs.out;
  // Writing to it: one line naming the store and saying why, no SQLite jargon.
  expect_training_refused(log, "no space left on the device", (disk / "").string());
  // A report still prints its table and says it was not recorded.
  const Step report = step(log, "report");
  EXPECT_EQ(report.code, 0) << report.out;
  EXPECT_NE(report.out.find("Table I"), std::string::npos) << report.out;
  EXPECT_NE(report.out.find("report not recorded"), std::string::npos) << report.out;
  EXPECT_NE(report.out.find("no space left on the device"), std::string::npos) << report.out;
  // Nothing lost: the same runs after the failed writes, also of a crashed writer's store whose
  // runs are in its -wal.
  EXPECT_EQ(step(log, "runs_after").code, 0) << step(log, "runs_after").out;
  EXPECT_NE(step(log, "runs_after").out.find("table1/clean_b"), std::string::npos) << step(log, "runs_after").out;
  EXPECT_EQ(step(log, "studies").code, 0) << step(log, "studies").out;
  EXPECT_NE(step(log, "studies").out.find("no studies in"), std::string::npos) << step(log, "studies").out;
  for (const char* name : {"crashed_runs", "crashed_runs_after"}) {
    const Step s = step(log, name);
    EXPECT_EQ(s.code, 0) << name << ": " << s.out;
    EXPECT_NE(s.out.find("table1/wal_a"), std::string::npos) << name << ": " << s.out;
    EXPECT_NE(s.out.find("table1/wal_b"), std::string::npos) << name << ": " << s.out;
  }
  // No inode left: the same, and runs that are only in a -wal that cannot be read there are one
  // line that says so (never the store's older contents as if they were all).
  ASSERT_EQ(step(log, "inodes_free").out, "0\n") << "the tmpfs has inodes left";
  const Step inode_runs = step(log, "inodes_runs");
  EXPECT_EQ(inode_runs.code, 0) << inode_runs.out;
  EXPECT_NE(inode_runs.out.find("table1/clean_b"), std::string::npos) << inode_runs.out;
  const Step inode_report = step(log, "inodes_report");
  EXPECT_EQ(inode_report.code, 0) << inode_report.out;
  EXPECT_NE(inode_report.out.find("no space left on the device"), std::string::npos) << inode_report.out;
  const Step lost = step(log, "inodes_wal_only");
  EXPECT_EQ(lost.code, 1) << lost.out;
  ASSERT_EQ(error_lines(lost.out).size(), 1u) << lost.out;
  EXPECT_NE(lost.out.find((inodes / "wal_only" / "runs.sqlite-wal").string()), std::string::npos) << lost.out;
  EXPECT_NE(lost.out.find("the device is full"), std::string::npos) << lost.out;

  // With space again, both stores are sound, hold exactly their runs and take new ones.
  for (const fs::path& file : {after / "clean.sqlite", after / "crashed" / "runs.sqlite"}) {
    EXPECT_EQ(integrity(file), "ok") << file;
    dmgn::store::RunStore s(file);
    EXPECT_EQ(s.runs().size(), 2u) << file;
    EXPECT_EQ(s.begin_run({}), 3) << file;
  }
}

TEST_F(Reliability, AStoreOnAReadOnlyMountCanStillBeRead) {
  if (const auto why = mount_namespace_unavailable(); !why.empty()) GTEST_SKIP() << why;
  const auto dir = dmgn::testing::scratch("read_only_mount");
  const fs::path media = dir / "media", log = dir / "log";
  fs::create_directories(media / "clean");
  make_store(media / "clean" / "runs.sqlite", "clean_a", "clean_b");
  make_crashed_store(dir, media / "crashed", "wal_a", "wal_b");                   // -wal and -shm left
  make_crashed_store(dir, media / "wal_only", "lost_a", "lost_b", /*with_shm=*/false);  // no -shm
  const std::string M = shell_quote(media.string());
  const auto ns = in_mount_namespace(dir, log,
      "mount --bind -o ro " + M + " " + M + " || exit 9\n"
      "run touch touch " + M + "/clean/x\n"
      "run runs \"$DMGN\" runs --store " + M + "/clean/runs.sqlite\n"
      "run crashed_runs \"$DMGN\" runs --store " + M + "/crashed/runs.sqlite\n"
      "run wal_only_runs \"$DMGN\" runs --store " + M + "/wal_only/runs.sqlite\n"
      "run studies \"$DMGN\" study list --store " + M + "/clean/runs.sqlite\n"
      "run report \"$DMGN\" report table1 --store " + M + "/clean/runs.sqlite\n"
      "run train sh -c " + shell_quote(train_command(dir, media / "clean" / "runs.sqlite")) + "\n"
      "run crashed_train sh -c " + shell_quote(train_command(dir, media / "crashed" / "runs.sqlite")) + "\n");
  ASSERT_EQ(ns.code, 0) << ns.out;
  ASSERT_NE(step(log, "touch").code, 0) << "the bind mount is not read-only";

  for (const auto& [name, a, b] : {std::tuple{"runs", "clean_a", "clean_b"}, {"crashed_runs", "wal_a", "wal_b"}}) {
    const Step s = step(log, name);
    EXPECT_EQ(s.code, 0) << name << ": " << s.out;
    EXPECT_NE(s.out.find(std::string("table1/") + a), std::string::npos) << name << ": " << s.out;
    EXPECT_NE(s.out.find(std::string("table1/") + b), std::string::npos) << name << ": " << s.out;
  }
  // Runs that are only in a -wal that cannot be read here: one line that says so, naming it
  // (never the store's older contents as if they were all).
  const Step lost = step(log, "wal_only_runs");
  EXPECT_EQ(lost.code, 1) << lost.out;
  ASSERT_EQ(error_lines(lost.out).size(), 1u) << lost.out;
  EXPECT_NE(lost.out.find((media / "wal_only" / "runs.sqlite-wal").string()), std::string::npos) << lost.out;
  EXPECT_NE(lost.out.find("read-only"), std::string::npos) << lost.out;
  EXPECT_EQ(lost.out.find("SQLite code"), std::string::npos) << lost.out;

  const Step studies = step(log, "studies");  // the study store's own read-only connection
  EXPECT_EQ(studies.code, 0) << studies.out;
  EXPECT_NE(studies.out.find("no studies in"), std::string::npos) << studies.out;
  const Step report = step(log, "report");
  EXPECT_EQ(report.code, 0) << report.out;
  EXPECT_NE(report.out.find("Table I"), std::string::npos) << report.out;
  EXPECT_NE(report.out.find("report not recorded"), std::string::npos) << report.out;
  expect_training_refused(log, "read-only", media.string());
  // Nothing was created beside the stores.
  for (const char* d : {"clean", "crashed", "wal_only"}) {
    std::vector<std::string> names;
    for (const auto& f : fs::directory_iterator(media / d)) names.push_back(f.path().filename().string());
    std::sort(names.begin(), names.end());
    const std::vector<std::string> expected =
        std::string(d) == "clean"     ? std::vector<std::string>{"runs.sqlite"}
        : std::string(d) == "crashed" ? std::vector<std::string>{"runs.sqlite", "runs.sqlite-shm", "runs.sqlite-wal"}
                                      : std::vector<std::string>{"runs.sqlite", "runs.sqlite-wal"};
    EXPECT_EQ(names, expected) << d;
  }
}

}  // namespace
