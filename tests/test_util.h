#pragma once
// Shared test helpers: scratch folders and tiny model configs.
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <mutex>
#include <vector>

#include <gtest/gtest.h>

#include "core/compat.h"

// Skips the calling test, with the reason, in a build without a Gloo process group (a CUDA
// LibTorch from the pip wheel ships no Gloo headers): CPU data-parallel runs need one.
#define DMGN_REQUIRE_GLOO()                                                                          \
  do {                                                                                               \
    if (!::dmgn::compat::has_gloo())                                                                 \
      GTEST_SKIP() << "this build has no Gloo process group (LibTorch without Gloo headers, e.g. "   \
                      "the pip wheel): CPU data-parallel runs need one";                            \
  } while (0)

namespace dmgn::testing {

// Removes the scratch folders of this process when it exits, unless a test failed (its files
// are then the evidence) or DMGN_KEEP_TEST_TMP is set. Without this, every suite run left
// gigabytes of checkpoints behind.
class ScratchJanitor {
 public:
  void add(const std::filesystem::path& dir) {
    std::lock_guard<std::mutex> lock(mu_);
    dirs_.push_back(dir);
  }
  ~ScratchJanitor() {
    if (std::getenv("DMGN_KEEP_TEST_TMP")) return;
    if (::testing::UnitTest::GetInstance()->failed_test_count() > 0) return;
    std::error_code ec;
    for (const auto& d : dirs_) std::filesystem::remove_all(d, ec);
  }

 private:
  std::mutex mu_;
  std::vector<std::filesystem::path> dirs_;
};

// A fresh folder under $DMGN_TEST_TMP (or the system temp dir), unique per call; removed when
// the test process exits cleanly (see ScratchJanitor).
inline std::filesystem::path scratch(const std::string& name) {
  static ScratchJanitor janitor;
  static std::atomic<int> counter{0};
  const char* env = std::getenv("DMGN_TEST_TMP");
  const std::filesystem::path base = env ? env : std::filesystem::temp_directory_path() / "dmgn_tests";
  const auto dir = base / (name + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  janitor.add(dir);
  return dir;
}

// Overrides that make the full DMGN composition tiny (fast on CPU, same structure).
inline std::vector<std::string> tiny_model() {
  return {"model.widths=[4, 8, 8]",        "model.bottleneck_cells=1",
          "model.vestigial=false",         "model.head.taps=[1]",
          "model.refine.dilations=[1, 2]", "loss.perceptual.taps=[1]",
          "loss.perceptual.weights=[1.0]", "discriminator.ndf=4",
          "discriminator.layers=2",        "model.aca.reduction=2"};
}

// The message of the exception of type E that fn throws, or a marker when it throws none.
template <class E, class F>
std::string error_of(F&& fn) {
  try {
    fn();
  } catch (const E& e) {
    return e.what();
  }
  return "<no exception of the expected type>";
}

// Tiny model + tiny built-in data + a private store and run folder under `dir`.
inline std::vector<std::string> tiny_run(const std::filesystem::path& dir) {
  auto v = tiny_model();
  for (const std::string& s :
       {"data.crop=32", "data.builtin.train_pairs=16", "data.builtin.heldout_pairs=2",
        "data.builtin.heldout_size=32", "data.workers=0", "train.batch_size=2", "train.val_every=0",
        "train.checkpoint_every=0", "runtime.threads=1", "runtime.progress=false"})
    v.push_back(s);
  v.push_back("runtime.store=\"" + (dir / "runs.sqlite").string() + "\"");
  v.push_back("runtime.out_dir=\"" + (dir / "runs").string() + "\"");
  return v;
}

}  // namespace dmgn::testing
