#pragma once
// The kill-and-resume experiment of the crash-safety tests: one run to completion ("whole")
// and the same run SIGKILLed (its whole process group) at a random step and resumed with
// --resume ("broken"), each with its own store and run folder in `dir`
// (whole.sqlite / whole/, broken.sqlite / broken/). The caller then compares the two.
#include <gtest/gtest.h>

#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "proc_util.h"

namespace dmgn::testing {

struct KilledRun {
  std::filesystem::path whole_store, broken_store;
  std::vector<std::string> whole_sets, broken_sets;  // `sets` plus each run's store and folder
  int killed_at = 0;                                  // 0: the experiment failed (gtest says why)
};

// head: the dmgn arguments before the --set list (e.g. {"train", CONFIG}); sets: the common
// overrides (with runtime.progress=true so that "step N/steps" is printed); the kill lands on a
// random step in [first, last] of `steps`.
inline KilledRun run_whole_and_killed(const std::filesystem::path& dir, const std::vector<std::string>& head,
                                      const std::vector<std::string>& sets, int steps, int first, int last) {
  KilledRun r;
  r.whole_store = dir / "whole.sqlite";
  r.broken_store = dir / "broken.sqlite";
  r.whole_sets = sets;
  r.broken_sets = sets;
  r.whole_sets.push_back("runtime.store=\"" + r.whole_store.string() + "\"");
  r.whole_sets.push_back("runtime.out_dir=\"" + (dir / "whole").string() + "\"");
  r.broken_sets.push_back("runtime.store=\"" + r.broken_store.string() + "\"");
  r.broken_sets.push_back("runtime.out_dir=\"" + (dir / "broken").string() + "\"");
  const auto a = spawn_dmgn(with_sets(head, r.whole_sets), (dir / "whole.log").string());
  const int rc = wait_child(a, 300);
  EXPECT_EQ(rc, 0) << read_text(a.log);
  if (rc != 0) return r;
  std::random_device rd;
  const int kill_at = first + static_cast<int>(rd() % static_cast<unsigned>(last - first + 1));
  std::printf("killing the run at step %d of %d\n", kill_at, steps);
  const auto b = spawn_dmgn(with_sets(head, r.broken_sets), (dir / "broken.log").string());
  const bool reached = wait_for_text(b, "step " + std::to_string(kill_at) + "/" + std::to_string(steps), 300);
  EXPECT_TRUE(reached) << read_text(b.log);
  ::kill(-b.pid, SIGKILL);
  EXPECT_EQ(wait_child(b, 60), 128 + SIGKILL);
  if (!reached) return r;
  auto resumed = head;
  resumed.push_back("--resume");
  const auto c = spawn_dmgn(with_sets(resumed, r.broken_sets), (dir / "resumed.log").string());
  const int rc2 = wait_child(c, 300);
  EXPECT_EQ(rc2, 0) << read_text(c.log);
  EXPECT_NE(read_text(c.log).find("resuming run 1 from"), std::string::npos) << read_text(c.log);
  if (rc2 == 0) r.killed_at = kill_at;
  return r;
}

}  // namespace dmgn::testing
