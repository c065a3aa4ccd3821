// Reliability, round two (README "Reliability"): checkpoints that were changed on disk are
// refused naming the tensor or the file; every number a user can size is bounded with its
// reason; an image too large for memory is tiled (models of local operations, exactly) or
// refused per sample before memory runs out; a signal during the end-of-training evaluation
// stops the run as interrupted and resumable.
#include <gtest/gtest.h>
#include <torch/csrc/jit/serialization/pickle.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "core/compat.h"
#include "core/config.h"
#include "core/crc32.h"
#include "core/error.h"
#include "data/benchmarks.h"
#include "data/image_io.h"
#include "data/loader.h"
#include "models/model.h"
#include "process_test.h"
#include "store/run_store.h"
#include "test_util.h"
#include "train/checkpoint.h"
#include "train/checkpoint_integrity.h"
#include "train/evaluate.h"
#include "train/tiling.h"
#include "train/trainer.h"

namespace {

namespace fs = std::filesystem;
using dmgn::Config;
using dmgn::testing::error_of;
using namespace dmgn::testing;  // NOLINT: child processes, logs, scratch folders

class Limits : public ProcessTest {};

std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const fs::path& p, const std::string& b) { std::ofstream(p, std::ios::binary) << b; }

// Flips one bit of the first occurrence of `pattern` in the file; false when absent.
bool flip_in(const fs::path& file, const std::string& pattern, size_t offset_in_pattern = 0) {
  auto b = read_bytes(file);
  const auto at = b.find(pattern);
  if (at == std::string::npos) return false;
  b[at + offset_in_pattern] = static_cast<char>(b[at + offset_in_pattern] ^ 0x10);
  write_bytes(file, b);
  return true;
}

TEST_F(Limits, Crc32IsZipsCrc32) {
  // The check value of the CRC-32 used by zip, PNG and zlib, and incremental use.
  const std::string s = "123456789";
  EXPECT_EQ(dmgn::crc32(s.data(), s.size()), 0xCBF43926u);
  EXPECT_EQ(dmgn::crc32(s.data() + 4, 5, dmgn::crc32(s.data(), 4)), 0xCBF43926u);
  std::string big(1000, 'x');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7);
  EXPECT_EQ(dmgn::crc32(big.data() + 3, 997, dmgn::crc32(big.data(), 3)), dmgn::crc32(big.data(), 1000));
}

TEST_F(Limits, ACheckpointChangedOnDiskIsRefusedNamingTheTensorOrTheFile) {
  const auto dir = scratch("corrupt_ckpt");
  const Config cfg = Config::defaults(tiny_model());
  auto model = dmgn::models::build_model(cfg);
  {
    torch::NoGradGuard g;
    model->named_parameters()["refine.in.weight"].fill_(1234.5);  // a byte pattern to find
  }
  dmgn::train::CheckpointMeta meta;
  meta.kind = "weights";
  meta.config_text = cfg.canonical();
  const auto good = dir / "good.ckpt";
  dmgn::train::save_checkpoint(good, meta, dmgn::train::CheckpointParts::weights(model.get()));
  EXPECT_TRUE(dmgn::train::zip_crc_mismatches(good).empty());
  auto fresh = dmgn::models::build_model(cfg);
  const auto load = [&](const fs::path& f) {
    dmgn::train::load_checkpoint(f, dmgn::train::CheckpointParts::weights(fresh.get()));
  };
  EXPECT_NO_THROW(load(good));

  // Finite, plausible bytes changed in a tensor: named.
  float v = 1234.5f;
  const std::string pattern(reinterpret_cast<const char*>(&v), sizeof v);
  const auto bad = dir / "bad_tensor.ckpt";
  fs::copy_file(good, bad);
  ASSERT_TRUE(flip_in(bad, pattern + pattern, 5));  // inside the second float: 1234.5 -> finite
  EXPECT_FALSE(dmgn::train::zip_crc_mismatches(bad).empty());
  std::string err = error_of<dmgn::DataError>([&] { load(bad); });
  EXPECT_NE(err.find("is corrupted: model tensor 'refine.in.weight' does not match its checksum"), std::string::npos)
      << err;
  EXPECT_NE(err.find(bad.string()), std::string::npos) << err;

  // The metadata (the config text in data.pkl, still a valid pickle): the file and the record.
  const auto bad_meta = dir / "bad_meta.ckpt";
  fs::copy_file(good, bad_meta);
  ASSERT_TRUE(flip_in(bad_meta, "bottleneck_cells", 3));
  err = error_of<dmgn::DataError>([&] { load(bad_meta); });
  EXPECT_NE(err.find("is corrupted: 1 record(s) fail their CRC-32 check (first: '"), std::string::npos) << err;
  EXPECT_NE(err.find("data.pkl"), std::string::npos) << err;

  // A checkpoint written before the tensor checksums (no "checksums" entry): the zip's CRC-32
  // still catches it, naming the file.
  const auto legacy = dir / "legacy.ckpt";
  {
    torch::serialize::OutputArchive root, m;
    for (const auto& item : model->named_parameters()) m.write(item.key(), item.value(), false);
    for (const auto& item : model->named_buffers()) m.write(item.key(), item.value(), true);
    root.write("format", torch::tensor({int64_t{2}}));
    for (const char* k : {"step", "epoch", "batch_in_epoch", "world_size"}) root.write(k, torch::tensor({int64_t{0}}));
    root.write("config", c10::IValue(cfg.canonical()));
    root.write("kind", c10::IValue(std::string("weights")));
    root.write("model", m);
    root.write("modules", c10::IValue(std::string("model")));
    root.write("optimizers", c10::IValue(std::string("")));
    root.save_to(legacy.string());
  }
  EXPECT_NO_THROW(load(legacy));
  ASSERT_TRUE(flip_in(legacy, pattern + pattern, 5));
  err = error_of<dmgn::DataError>([&] { load(legacy); });
  EXPECT_NE(err.find("is corrupted: 1 record(s) fail their CRC-32 check"), std::string::npos) << err;
  EXPECT_NE(err.find(legacy.string()), std::string::npos) << err;

  // A cut file: named, not a torch internal error.
  const auto cut = dir / "cut.ckpt";
  write_bytes(cut, read_bytes(good).substr(0, 4096));
  err = error_of<dmgn::DataError>([&] { load(cut); });
  EXPECT_NE(err.find(cut.string()), std::string::npos) << err;

  // A torch.save file (official or VGG-19 weights) changed on disk: the same zip check.
  const auto pth = dir / "weights.pth";
  {
    c10::impl::GenericDict dict(c10::StringType::get(), c10::TensorType::get());
    dict.insert("conv.weight", torch::full({4, 3, 3, 3}, 1234.5f));
    const auto bytes = torch::pickle_save(dict);
    std::ofstream(pth, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  EXPECT_EQ(dmgn::compat::load_state_dict(pth).size(), 1u);
  ASSERT_TRUE(flip_in(pth, pattern + pattern, 5));
  err = error_of<dmgn::DataError>([&] { dmgn::compat::load_state_dict(pth); });
  EXPECT_NE(err.find("is corrupted: 1 record(s) fail their CRC-32 check"), std::string::npos) << err;

  // dmgn eval says it in one line and exits 1.
  const auto r = dmgn_shell("eval " + bad.string() + " --max-samples 1");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("does not match its checksum"), std::string::npos) << r.out;
}

TEST_F(Limits, NumbersThatSizeResourcesAreRefusedAtLoadWithTheirReason) {
  const auto err = [](const std::string& set) {
    return error_of<dmgn::ConfigError>([&] { Config::defaults({set}); });
  };
  EXPECT_NE(err("data.workers=100000").find("'data.workers' = 100000: must be <= 64 (each worker is a thread"),
            std::string::npos);
  EXPECT_NE(err("runtime.threads=100000").find("'runtime.threads' = 100000: must be <= 512 (torch starts one"),
            std::string::npos);
  EXPECT_NE(err("data.crop=100000").find("'data.crop' = 100000: must be <= 4096 (a training crop is"),
            std::string::npos);
  EXPECT_NE(err("train.batch_size=100000").find("must be <= 1024"), std::string::npos);
  EXPECT_NE(err("data.builtin.train_pairs=10000000000").find("must be <= 100000000"), std::string::npos);
  EXPECT_NE(err("data.augment.short_side=[320, 100000]").find("must be <= 8192"), std::string::npos);
  // Command-line numbers that start processes or threads likewise.
  const auto nproc = dmgn_shell("launch --nproc 100000 -- train " + kBaseConfig);
  EXPECT_NE(nproc.code, 0) << nproc.out;
  EXPECT_NE(nproc.out.find("must be <= 256 (each rank is a process"), std::string::npos) << nproc.out;
  const auto workers = dmgn_shell("sweep " + std::string(DMGN_SOURCE_DIR) + "/ablations/fig6_small.toml --workers 100000");
  EXPECT_NE(workers.code, 0) << workers.out;
  EXPECT_NE(workers.out.find("must be <= 64 (each worker is a training process"), std::string::npos) << workers.out;
  // At the command line: exit 1, one line, no run and no store written.
  const auto dir = scratch("bounds_cli");
  for (const char* set : {"data.workers=100000", "runtime.threads=100000", "data.crop=100000"}) {
    const auto r = dmgn_shell("train " + kBaseConfig + " --set '" + set + "' --set 'runtime.store=\"" +
                              (dir / "s.sqlite").string() + "\"'");
    EXPECT_EQ(r.code, 1) << r.out;
    EXPECT_NE(r.out.find("must be <="), std::string::npos) << r.out;
    EXPECT_FALSE(fs::exists(dir / "s.sqlite")) << set;
  }
}

// A worker the system refuses (its thread limit, or memory for the thread's stack) is an error
// naming data.workers, not std::terminate.
TEST_F(Limits, DataWorkersTheSystemRefusesAreAnErrorNotAnAbort) {
  auto sets = tiny_model();
  sets.push_back("data.builtin.train_pairs=64");
  const Config cfg = Config::defaults(sets);
  auto ds = dmgn::train::open_for_model(cfg, "builtin", dmgn::data::Split::train);
  std::fflush(stdout);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // Address space for what the process maps now plus 256 MiB: 64 threads with 8 MiB stacks
    // do not fit.
    std::ifstream st("/proc/self/status");
    uint64_t vm_kb = 0;
    for (std::string line; std::getline(st, line);)
      if (line.rfind("VmSize:", 0) == 0) vm_kb = std::stoull(line.substr(7));
    const rlim_t limit = static_cast<rlim_t>((vm_kb + 256 * 1024) * 1024);
    rlimit rl{limit, limit};
    ::setrlimit(RLIMIT_AS, &rl);
    dmgn::data::LoaderOptions o;
    o.batch_size = 2;
    o.workers = 64;
    try {
      dmgn::data::Loader loader(ds, o);
      _exit(2);  // every thread started: the limit did not bite
    } catch (const dmgn::Error& e) {
      const std::string m = e.what();
      _exit(m.find("data.workers") != std::string::npos && m.find("lower data.workers") != std::string::npos ? 0 : 3);
    } catch (...) {
      _exit(4);
    }
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "killed by signal " << WTERMSIG(status) << " (std::terminate aborts)";
  const int code = WEXITSTATUS(status);
  if (code == 2) GTEST_SKIP() << "64 threads started under the address-space limit: nothing refused here";
  EXPECT_EQ(code, 0) << "3: message lacks data.workers, 4: another exception";
}

void save_png(const fs::path& p, int h, int w, double shade, uint64_t seed) {
  auto g = at::detail::createCPUGenerator(seed);
  dmgn::data::write_image(p, dmgn::data::to_mat((torch::full({3, h, w}, shade) +
                                                 0.2 * torch::rand({3, h, w}, g)).clamp(0, 1)));
}

// A paired folder: input/NAME.png and target/NAME.png per (name, h, w).
fs::path paired(const fs::path& dir, const std::vector<std::tuple<std::string, int, int>>& images) {
  for (const char* sub : {"input", "target"}) fs::create_directories(dir / sub);
  uint64_t seed = 1;
  for (const auto& [name, h, w] : images) {
    save_png(dir / "input" / (name + ".png"), h, w, 0.4, seed++);
    save_png(dir / "target" / (name + ".png"), h, w, 0.5, seed++);
  }
  return dir;
}

// A model of local operations only (3x3 convs, a stride-2 conv, nearest upsampling): an output
// pixel sees 8 px at most in each direction (1 + 3 + 2 + 2 along the path), on a 2 px grid.
class LocalNet : public dmgn::models::Model {
 public:
  LocalNet() {
    namespace nn = torch::nn;
    c1_ = register_module("c1", nn::Conv2d(nn::Conv2dOptions(3, 8, 3).padding(1)));
    down_ = register_module("down", nn::Conv2d(nn::Conv2dOptions(8, 8, 4).stride(2).padding(1)));
    c2_ = register_module("c2", nn::Conv2d(nn::Conv2dOptions(8, 8, 3).padding(1)));
    c3_ = register_module("c3", nn::Conv2d(nn::Conv2dOptions(8, 3, 3).padding(1)));
    spec_.outputs = {{"background", dmgn::models::OutputDecl::Kind::image, false, "B", ""}};
    spec_.size_multiple = 2;
    spec_.receptive_radius = 8;
  }
  dmgn::models::Outputs forward(const torch::Tensor& x) override {
    auto y = torch::relu(c2_->forward(torch::relu(down_->forward(torch::relu(c1_->forward(x))))));
    y = torch::upsample_nearest2d(y, {x.size(2), x.size(3)});
    dmgn::models::Outputs o;
    o.set("background", c3_->forward(y) + x);
    return o;
  }

 private:
  torch::nn::Conv2d c1_{nullptr}, down_{nullptr}, c2_{nullptr}, c3_{nullptr};
};

dmgn::data::DatasetPtr open_folder(const fs::path& root, const std::vector<std::string>& extra = {}) {
  auto sets = tiny_model();
  sets.push_back("datasets.mine.root=\"" + root.string() + "\"");
  for (const auto& s : extra) sets.push_back(s);
  return dmgn::train::open_for_model(Config::defaults(sets), "mine", dmgn::data::Split::heldout);
}

// Tiles with the receptive field as context give the full-size result. Bitwise where the
// arithmetic is exact (integer weights and pixels in float64: every sum is exact in any order);
// with real weights to the last bit or two, since convolution kernels (oneDNN in float32, im2col
// and OpenBLAS in float64) block an image of another size differently and their sums round
// differently (1.2e-7 in float32, 1.1e-16 in float64 seen), which is not the tiling's doing.
TEST_F(Limits, AModelOfLocalOperationsIsRestoredInTilesExactly) {
  torch::manual_seed(3);
  LocalNet net;
  net.eval();
  c10::InferenceMode guard;
  const auto check = [&](const torch::Tensor& x, bool bitwise) {
    const auto full = net.forward(x).at("background");
    for (const int64_t tile : {32, 50, 64, 202}) {
      const auto tiled = dmgn::train::restore_in_tiles(net, x, {tile, 8}).at("background");
      const double diff = (tiled - full).abs().max().item<double>();
      if (bitwise)
        EXPECT_TRUE(torch::equal(tiled, full)) << "tile " << tile << ": max difference " << diff;
      else
        EXPECT_LE(diff, 1e-6 * full.abs().max().item<double>()) << "tile " << tile;
    }
    // Less context than the receptive field: not the same (the test can tell).
    const auto short_context = dmgn::train::restore_in_tiles(net, x, {32, 2}).at("background");
    EXPECT_GT((short_context - full).abs().max().item<double>(), 1e-3);
  };
  check(torch::rand({1, 3, 202, 138}) * 2 - 1, false);  // float32, on the 2 px grid
  net.to(torch::kDouble);
  for (auto& p : net.parameters()) p.copy_(torch::randint(-2, 3, p.sizes(), p.options()));
  check(torch::randint(-3, 4, {1, 3, 202, 138}, torch::kDouble), true);
}

TEST_F(Limits, ImagesTooLargeForMemoryAreTiledOrRefusedPerSample) {
  const auto dir = scratch("large_images");
  const auto root = paired(dir / "bench", {{"big", 301, 203}, {"small", 40, 36}});
  auto ds = open_folder(root);
  ASSERT_EQ(ds->size(), 2u);
  const auto spec = dmgn::train::metric_preset(Config::defaults(tiny_model()), "mine");

  // A model of local operations: the large image in tiles, scored exactly as at full size.
  LocalNet net;
  const auto fp = dmgn::train::measure_footprint(net, torch::kCPU, torch::kFloat);
  ASSERT_TRUE(fp.known);
  dmgn::train::EvalOptions eo;
  eo.memory_budget = fp.bytes(96, 96) * dmgn::train::kMemoryMargin;  // the small one fits, the big one not
  const auto tiled = dmgn::train::evaluate(net, *ds, spec, eo);
  EXPECT_EQ(tiled.tiled, 1);
  EXPECT_EQ(tiled.samples, 2);
  eo.memory_budget = 1e15;
  const auto whole = dmgn::train::evaluate(net, *ds, spec, eo);
  EXPECT_EQ(whole.tiled, 0);
  EXPECT_NEAR(whole.psnr, tiled.psnr, 1e-6);  // float32 kernels: see the test above
  EXPECT_NEAR(whole.ssim, tiled.ssim, 1e-7);

  // DMGN (global pooling, normalisation over the image): refused per sample, naming it and the
  // memory, before it runs.
  auto model = dmgn::models::build_model(Config::defaults(tiny_model()));
  const auto dfp = dmgn::train::measure_footprint(*model, torch::kCPU, torch::kFloat);
  ASSERT_TRUE(dfp.known);
  eo.memory_budget = dfp.bytes(64, 64) * dmgn::train::kMemoryMargin;
  eo.skip_bad = true;
  const auto r = dmgn::train::evaluate(*model, *ds, spec, eo);
  EXPECT_EQ(r.samples, 1);
  ASSERT_EQ(r.skipped, 1);
  EXPECT_NE(r.skipped_messages[0].find("sample 'mine/input/big.png' (203x301 px): restoring it needs about"), std::string::npos)
      << r.skipped_messages[0];
  EXPECT_NE(r.skipped_messages[0].find("crop or downscale the image"), std::string::npos) << r.skipped_messages[0];
  eo.skip_bad = false;
  const auto err = error_of<dmgn::DataError>([&] { dmgn::train::evaluate(*model, *ds, spec, eo); });
  EXPECT_NE(err.find("sample 'mine/input/big.png'"), std::string::npos) << err;
}

TEST_F(Limits, DmgnEvalSkipsAnImageTooLargeForTheMemoryItMayUse) {
  const auto dir = scratch("large_eval_cli");
  const auto root = paired(dir / "bench", {{"huge", 600, 400}, {"fine", 48, 40}});
  auto sets = tiny_model();
  sets.push_back("runtime.store=\"" + (dir / "runs.sqlite").string() + "\"");
  const Config cfg = Config::defaults(sets);
  auto model = dmgn::models::build_model(cfg);
  dmgn::train::CheckpointMeta meta;
  meta.kind = "weights";
  meta.config_text = cfg.canonical();
  const auto ckpt = dir / "w.ckpt";
  dmgn::train::save_checkpoint(ckpt, meta, dmgn::train::CheckpointParts::weights(model.get()));
  const std::string head = "eval " + ckpt.string() + " --dataset mine --set 'datasets.mine.root=\"" +
                           root.string() + "\"' --set runtime.memory_gb=0.05";
  const auto skip = dmgn_shell(head + " --set 'data.on_bad_sample=\"skip\"'");
  EXPECT_EQ(skip.code, 0) << skip.out;
  EXPECT_NE(skip.out.find("sample 'mine/input/huge.png' (400x600 px): restoring it needs about"), std::string::npos) << skip.out;
  const auto fail = dmgn_shell(head);
  EXPECT_EQ(fail.code, 1) << fail.out;
  EXPECT_NE(fail.out.find("sample 'mine/input/huge.png'"), std::string::npos) << fail.out;
  EXPECT_EQ(fail.out.find("DefaultCPUAllocator"), std::string::npos) << fail.out;
  // dmgn data check says so beforehand.
  std::ofstream(dir / "mine.toml") << "extends = [\"" << kBaseConfig << "\"]\n[datasets.mine]\nroot = \""
                                   << root.string() << "\"\n";
  std::string check = "data check " + (dir / "mine.toml").string() + " --dataset mine --set runtime.memory_gb=0.05";
  for (const auto& s : tiny_model()) check += " --set '" + s + "'";
  const auto checked = dmgn_shell(check);
  EXPECT_EQ(checked.code, 1) << checked.out;
  EXPECT_NE(checked.out.find("too_large"), std::string::npos) << checked.out;
  EXPECT_NE(checked.out.find("huge.png"), std::string::npos) << checked.out;
  EXPECT_EQ(checked.out.find("fine.png"), std::string::npos) << checked.out;
}

std::string only_status(const fs::path& store) {
  const dmgn::store::RunStore s(store, dmgn::store::RunStore::Access::read_only);
  const auto runs = s.runs();
  return runs.size() == 1 ? runs[0].status : "<" + std::to_string(runs.size()) + " runs>";
}

// SIGTERM while the final model is being validated and tested: exit 3 at once (not after the
// evaluation), status interrupted, nothing half-recorded; --resume evaluates and completes.
TEST_F(Limits, ASignalDuringTheFinalEvaluationInterruptsTheRunResumably) {
  const auto dir = scratch("signal_eval");
  auto sets = tiny_run(dir);
  for (const char* s : {"train.max_steps=2", "data.builtin.heldout_pairs=150", "data.builtin.heldout_size=64",
                        "runtime.progress=true"})
    sets.push_back(s);
  const auto args = with_sets({"train", kBaseConfig}, sets);
  const Child run = spawn_dmgn(args, (dir / "run.log").string());
  // The final checkpoint (step 2) is written before the evaluation starts.
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(180);
  bool evaluating = false;
  while (!evaluating && std::chrono::steady_clock::now() < end && ::kill(run.pid, 0) == 0) {
    std::error_code ec;
    for (const auto& f : fs::recursive_directory_iterator(dir / "runs", ec))
      if (f.path().filename() == "step_00000002.ckpt") evaluating = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(evaluating) << read_text(run.log);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const auto t0 = std::chrono::steady_clock::now();
  ::kill(run.pid, SIGTERM);
  EXPECT_EQ(wait_child(run, 120), dmgn::kExitInterrupted) << read_text(run.log);
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(waited, 10.0) << "the evaluation went on after the signal";
  const std::string log = read_text(run.log);
  EXPECT_NE(log.find("while evaluating the final model"), std::string::npos) << log;
  EXPECT_NE(log.find("continue with: "), std::string::npos) << log;
  EXPECT_EQ(only_status(dir / "runs.sqlite"), "interrupted");
  {
    const dmgn::store::RunStore s(dir / "runs.sqlite", dmgn::store::RunStore::Access::read_only);
    EXPECT_TRUE(s.evaluations().empty());  // nothing half-recorded
  }
  auto resume = args;
  resume.push_back("--resume");
  const Child again = spawn_dmgn(resume, (dir / "again.log").string());
  EXPECT_EQ(wait_child(again, 300), 0) << read_text(again.log);
  EXPECT_EQ(only_status(dir / "runs.sqlite"), "completed");
}

}  // namespace
