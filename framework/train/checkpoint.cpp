#include "train/checkpoint.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>  // fmt::join (its home since fmt 11)
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <regex>

#include "core/compat.h"
#include "core/error.h"
#include "train/checkpoint_integrity.h"

namespace dmgn::train {
namespace fs = std::filesystem;

namespace {

void fsync_path(const fs::path& p, bool directory) {
  const int fd = ::open(p.c_str(), directory ? O_RDONLY | O_DIRECTORY : O_RDONLY);
  if (fd < 0) return;
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0 && !directory)
    throw IoError(fmt::format("cannot sync '{}': {}", p.string(), std::strerror(err)));
}

void write_module(torch::serialize::OutputArchive& ar, torch::nn::Module& m, const std::string& part,
                  TensorChecksums& sums) {
  for (const auto& item : m.named_parameters()) {
    ar.write(item.key(), item.value(), false);
    sums[part + "/" + item.key()] = tensor_checksum(item.value());
  }
  for (const auto& item : m.named_buffers()) {
    ar.write(item.key(), item.value(), true);
    sums[part + "/" + item.key()] = tensor_checksum(item.value());
  }
}

// `sums`: the checkpoint's tensor checksums (empty for checkpoints written before them).
void read_module(torch::serialize::InputArchive& ar, torch::nn::Module& m, const std::string& what,
                 const fs::path& file, const TensorChecksums& sums) {
  torch::NoGradGuard guard;
  auto load = [&](const std::string& key, torch::Tensor& dst, bool buffer) {
    torch::Tensor t;
    if (!ar.try_read(key, t, buffer))
      throw DataError(fmt::format("checkpoint '{}' has no {} tensor '{}'", file.string(), what, key));
    if (!sums.empty()) {
      const auto it = sums.find(what + "/" + key);
      if (it == sums.end())
        throw DataError(fmt::format("checkpoint '{}' is corrupted: {} tensor '{}' has no checksum", file.string(),
                                    what, key));
      if (tensor_checksum(t) != it->second)
        throw DataError(fmt::format("checkpoint '{}' is corrupted: {} tensor '{}' does not match its checksum (bytes "
                                    "changed on disk); restore the file from a copy or use an earlier checkpoint",
                                    file.string(), what, key));
    }
    if (t.sizes() != dst.sizes())
      throw DataError(fmt::format("checkpoint '{}': {} tensor '{}' has shape [{}], the model has [{}]",
                                  file.string(), what, key, fmt::join(t.sizes(), ","),
                                  fmt::join(dst.sizes(), ",")));
    if (t.is_floating_point() && !torch::isfinite(t).all().item<bool>())
      throw DataError(fmt::format("checkpoint '{}': {} tensor '{}' holds non-finite values (NaN or Inf); the run "
                                  "had diverged when it was written: use an earlier checkpoint",
                                  file.string(), what, key));
    dst.copy_(t);
  };
  for (auto& item : m.named_parameters()) load(item.key(), item.value(), false);
  for (auto& item : m.named_buffers()) load(item.key(), item.value(), true);
}

torch::Tensor scalar(int64_t v) { return torch::tensor({v}, torch::kInt64); }

int64_t read_int(torch::serialize::InputArchive& ar, const std::string& key) {
  torch::Tensor t;
  ar.read(key, t);
  return t.item<int64_t>();
}

// Streams the archive through our own write(2) loop. LibTorch's file writer finishes the zip
// in its destructor and aborts the process when that write fails (a full disk); here a failed
// write is remembered, the rest of the stream is discarded, and an IoError names the file.
void write_archive(torch::serialize::OutputArchive& root, const fs::path& tmp, const fs::path& file) {
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    throw IoError(fmt::format("cannot create '{}' for checkpoint '{}': {}", tmp.string(), file.string(),
                              std::strerror(errno)));
  int err = 0;
  root.save_to([&](const void* data, size_t n) -> size_t {
    const char* p = static_cast<const char*>(data);
    size_t left = err ? 0 : n;
    while (left > 0) {
      const ssize_t w = ::write(fd, p, left);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        err = w < 0 ? errno : ENOSPC;
        break;
      }
      p += w;
      left -= static_cast<size_t>(w);
    }
    return n;  // never short: torch must not throw from its destructor
  });
  if (::close(fd) != 0 && !err) err = errno;
  if (err)
    throw IoError(fmt::format("cannot write checkpoint '{}': {} (folder full or not writable?)", file.string(),
                              std::strerror(err)));
}

// Part names share the archive's root with the metadata.
void check_part_names(const CheckpointParts& parts, const fs::path& file) {
  static const std::vector<std::string> reserved{"format", "step", "epoch", "batch_in_epoch", "config", "kind",
                                                 "world_size", "rng_cpu", "rng_cuda", "modules", "optimizers",
                                                 "checksums"};
  std::vector<std::string> seen;
  auto check = [&](const std::string& name, const void* part) {
    if (!part) throw Error(fmt::format("checkpoint '{}': part '{}' is null", file.string(), name));
    if (name.empty() || std::find(reserved.begin(), reserved.end(), name) != reserved.end() ||
        std::find(seen.begin(), seen.end(), name) != seen.end())
      throw Error(fmt::format("checkpoint '{}': part name '{}' is empty, reserved or used twice", file.string(), name));
    seen.push_back(name);
  };
  for (const auto& [name, m] : parts.modules) check(name, m);
  for (const auto& [name, o] : parts.optimizers) check(name, o);
}

}  // namespace

torch::nn::Module* CheckpointParts::module(const std::string& name) const {
  for (const auto& [n, m] : modules)
    if (n == name) return m;
  return nullptr;
}

void atomic_write(const fs::path& file, const std::function<void(const fs::path&)>& write) {
  const fs::path dir = file.parent_path().empty() ? fs::path(".") : file.parent_path();
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    throw IoError(fmt::format("cannot create checkpoint folder '{}': {}", dir.string(), ec.message()));
  const fs::path tmp = dir / fmt::format(".{}.tmp{}", file.filename().string(), ::getpid());
  try {
    write(tmp);
    fsync_path(tmp, false);
  } catch (const Error&) {
    fs::remove(tmp, ec);
    throw;
  } catch (const std::exception& e) {
    fs::remove(tmp, ec);
    throw IoError(
        fmt::format("cannot write '{}' (folder full or not writable?): {}", file.string(), error_summary(e)));
  }
  fs::rename(tmp, file, ec);
  if (ec) {
    fs::remove(tmp, ec);
    throw IoError(fmt::format("cannot move checkpoint into place at '{}': {}", file.string(), ec.message()));
  }
  fsync_path(dir, true);
}

void save_checkpoint(const fs::path& file, const CheckpointMeta& meta, const CheckpointParts& parts) {
  torch::serialize::OutputArchive root;
  root.write("format", scalar(2));
  root.write("step", scalar(meta.step));
  root.write("epoch", scalar(meta.epoch));
  root.write("batch_in_epoch", scalar(meta.batch_in_epoch));
  root.write("config", c10::IValue(meta.config_text));
  root.write("kind", c10::IValue(meta.kind));
  root.write("world_size", scalar(meta.world_size));
  const torch::Tensor rng = meta.rng_states.defined()
                                ? meta.rng_states
                                : at::detail::getDefaultCPUGenerator().get_state().unsqueeze(0);
  root.write("rng_cpu", rng);  // [ranks, state bytes]
  if (meta.cuda_rng_states.defined()) root.write("rng_cuda", meta.cuda_rng_states);
  check_part_names(parts, file);
  std::vector<std::string> modules, optimizers;
  TensorChecksums sums;
  for (const auto& [name, m] : parts.modules) {
    torch::serialize::OutputArchive a;
    write_module(a, *m, name, sums);
    root.write(name, a);
    modules.push_back(name);
  }
  for (const auto& [name, opt] : parts.optimizers) {
    torch::serialize::OutputArchive a;
    opt->save(a);
    root.write(name, a);
    optimizers.push_back(name);
  }
  root.write("modules", c10::IValue(fmt::format("{}", fmt::join(modules, ","))));
  root.write("optimizers", c10::IValue(fmt::format("{}", fmt::join(optimizers, ","))));
  root.write("checksums", c10::IValue(encode_checksums(sums)));
  atomic_write(file, [&](const fs::path& tmp) { write_archive(root, tmp, file); });
}

namespace {
torch::serialize::InputArchive open_archive(const fs::path& file) {
  if (!fs::exists(file)) throw IoError(fmt::format("checkpoint '{}' does not exist", file.string()));
  torch::serialize::InputArchive root;
  try {
    root.load_from(file.string());
  } catch (const std::exception& e) {
    throw DataError(fmt::format("checkpoint '{}' is not readable (truncated or not a dmgn checkpoint)",
                                file.string()));
  }
  return root;
}

CheckpointMeta read_meta(torch::serialize::InputArchive& root, const fs::path& file) {
  CheckpointMeta meta;
  try {
    meta.step = read_int(root, "step");
    meta.epoch = read_int(root, "epoch");
    meta.batch_in_epoch = read_int(root, "batch_in_epoch");
    c10::IValue v;
    root.read("config", v);
    meta.config_text = v.toStringRef();
    root.read("kind", v);
    meta.kind = v.toStringRef();
    torch::Tensor ws;
    if (root.try_read("world_size", ws)) meta.world_size = ws.item<int64_t>();
  } catch (const c10::Error&) {
    throw DataError(fmt::format("checkpoint '{}' lacks its metadata (not a dmgn checkpoint)", file.string()));
  }
  return meta;
}
}  // namespace

CheckpointMeta read_checkpoint_meta(const fs::path& file) {
  auto root = open_archive(file);
  return read_meta(root, file);
}

CheckpointMeta load_checkpoint(const fs::path& file, const CheckpointParts& parts, int rank) {
  auto root = open_archive(file);
  CheckpointMeta meta = read_meta(root, file);
  // Every record against the zip's CRC-32, and every module tensor against its own checksum
  // (which names the tensor; the zip check names the records of everything else).
  const auto bad_records = zip_crc_mismatches(file);
  TensorChecksums sums;
  if (c10::IValue v; root.try_read("checksums", v)) sums = decode_checksums(v.toStringRef(), file);
  auto sub = [&](const char* key, const char* what) {
    torch::serialize::InputArchive a;
    if (!root.try_read(key, a))
      throw DataError(fmt::format("checkpoint '{}' has no {} state", file.string(), what));
    return a;
  };
  check_part_names(parts, file);
  for (const auto& [name, m] : parts.modules) {
    auto a = sub(name.c_str(), name.c_str());
    read_module(a, *m, name, file, sums);
  }
  if (!bad_records.empty())
    throw DataError(fmt::format("checkpoint '{}' is corrupted: {} record(s) fail their CRC-32 check (first: '{}'); "
                                "restore the file from a copy or use an earlier checkpoint",
                                file.string(), bad_records.size(), bad_records.front()));
  // Adam's moments must be finite too: a NaN there turns the first update into NaN parameters.
  for (const auto& [name, opt] : parts.optimizers) {
    auto a = sub(name.c_str(), ("optimizer " + name).c_str());
    try {
      opt->load(a);
    } catch (const c10::Error& e) {
      throw DataError(fmt::format("checkpoint '{}': the state of optimizer '{}' does not fit this run's parameters "
                                  "({})",
                                  file.string(), name, error_summary(e)));
    }
    for (const auto& [key, state] : opt->state()) {
      const auto* st = dynamic_cast<const torch::optim::AdamParamState*>(state.get());
      if (!st) continue;
      for (const auto* t : {&st->exp_avg(), &st->exp_avg_sq()})
        if (t->defined() && !torch::isfinite(*t).all().item<bool>())
          throw DataError(fmt::format("checkpoint '{}': the state of optimizer '{}' holds non-finite values (NaN or "
                                      "Inf); the run had diverged when it was written: use an earlier checkpoint",
                                      file.string(), name));
    }
  }
  if (meta.kind == "train") {
    torch::Tensor rng;
    if (root.try_read("rng_cpu", rng)) {
      if (rng.dim() == 2) {
        if (rank >= rng.size(0))
          throw DataError(fmt::format("checkpoint '{}' holds RNG states for {} rank(s), not for rank {}",
                                      file.string(), rng.size(0), rank));
        rng = rng[rank].contiguous();
      }
      meta.rng_states = rng;
      at::Generator gen = at::detail::getDefaultCPUGenerator();
      std::lock_guard<std::mutex> lock(gen.mutex());
      gen.set_state(rng);
    }
    torch::Tensor cuda_rng;
    if (root.try_read("rng_cuda", cuda_rng) && compat::cuda_available() && rank < cuda_rng.size(0)) {
      meta.cuda_rng_states = cuda_rng;
      c10::Device dev(c10::kCUDA, 0);  // the GPU the model lives on
      for (const auto& [name, m] : parts.modules)
        for (const auto& p : m->parameters())
          if (p.is_cuda()) {
            dev = p.device();
            break;
          }
      at::Generator gen = at::globalContext().defaultGenerator(dev);
      std::lock_guard<std::mutex> lock(gen.mutex());
      gen.set_state(cuda_rng[rank].contiguous());
    }
  }
  return meta;
}

torch::Tensor generator_state(const torch::Device& device) {
  if (!device.is_cuda()) return at::detail::getDefaultCPUGenerator().get_state();
  return at::globalContext().defaultGenerator(device).get_state();
}

fs::path checkpoint_path(const fs::path& dir, int64_t step) {
  return dir / fmt::format("step_{:08d}.ckpt", step);
}

namespace {
std::vector<std::pair<int64_t, fs::path>> list_checkpoints(const fs::path& dir) {
  std::vector<std::pair<int64_t, fs::path>> out;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;
  static const std::regex re(R"(step_(\d+)\.ckpt)");
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::smatch m;
    const std::string name = e.path().filename().string();
    if (std::regex_match(name, m, re)) out.emplace_back(std::stoll(m[1]), e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}
}  // namespace

std::optional<fs::path> latest_checkpoint(const fs::path& dir) {
  auto all = list_checkpoints(dir);
  if (all.empty()) return std::nullopt;
  return all.back().second;
}

void prune_checkpoints(const fs::path& dir, int keep) {
  if (keep <= 0) return;
  auto all = list_checkpoints(dir);
  std::error_code ec;
  for (size_t i = 0; i + static_cast<size_t>(keep) < all.size(); ++i) fs::remove(all[i].second, ec);
}

}  // namespace dmgn::train
