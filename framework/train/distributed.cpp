#include "train/distributed.h"

#include <fmt/format.h>
#include <torch/csrc/distributed/c10d/HashStore.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "core/compat.h"
#ifdef DMGN_HAS_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#ifdef DMGN_HAS_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <cstdio>
#include <cstdlib>
#include <map>
#include <thread>

#include "core/error.h"
#include "core/hostlist.h"

namespace dmgn::train {

namespace {

class LocalCollective final : public Collective {
 public:
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  std::string backend() const override { return "none"; }
  void all_reduce_sum(std::vector<torch::Tensor>&) override {}
  void broadcast(std::vector<torch::Tensor>&, int) override {}
  void barrier() override {}
};

// A c10d process group (ProcessGroupGloo or ProcessGroupNCCL: the same calls in LibTorch
// 1.13 and 2.x). Each operation is issued and waited for; c10d/Gloo/NCCL failures become a
// DistError naming this rank and the operation.
template <class PG>
class C10dCollective final : public Collective {
 public:
  C10dCollective(c10::intrusive_ptr<c10d::Store> store, c10::intrusive_ptr<PG> pg, int rank, int world,
                 std::string backend, torch::Device device)
      : store_(std::move(store)), pg_(std::move(pg)), rank_(rank), world_(world),
        backend_(std::move(backend)), device_(device) {}

  int rank() const override { return rank_; }
  int world_size() const override { return world_; }
  std::string backend() const override { return backend_; }

  void all_reduce_sum(std::vector<torch::Tensor>& tensors) override {
    for (auto& t : tensors) {
      run("all-reduce", t, [&](std::vector<torch::Tensor>& v) {
        c10d::AllreduceOptions o;
        o.reduceOp = c10d::ReduceOp::SUM;
        return pg_->allreduce(v, o);
      });
    }
  }
  void broadcast(std::vector<torch::Tensor>& tensors, int root) override {
    for (auto& t : tensors) {
      run("broadcast", t, [&](std::vector<torch::Tensor>& v) {
        c10d::BroadcastOptions o;
        o.rootRank = root;
        return pg_->broadcast(v, o);
      });
    }
  }
  void barrier() override {
    try {
      pg_->barrier()->wait();
    } catch (const std::exception& e) {
      fail("barrier", e);
    }
  }

 private:
  template <class F>
  void run(const char* op, torch::Tensor& t, F&& issue) {
    // NCCL needs device tensors; Gloo needs contiguous ones. Stage when needed and copy back.
    const bool stage = (backend_ == "nccl" && !t.is_cuda()) || !t.is_contiguous();
    std::vector<torch::Tensor> v{stage ? t.to(backend_ == "nccl" ? device_ : t.device(),
                                              /*non_blocking=*/false, /*copy=*/true)
                                             .contiguous()
                                       : t};
    try {
      issue(v)->wait();
    } catch (const std::exception& e) {
      fail(op, e);
    }
    if (stage) t.copy_(v[0]);
  }
  [[noreturn]] void fail(const char* op, const std::exception& e) const {
    throw DistError(fmt::format(
        "rank {} of {}: {} {} failed: {} (another rank probably exited or hung; see its output)", rank_,
        world_, backend_, op, error_summary(e)));
  }

  c10::intrusive_ptr<c10d::Store> store_;  // keeps rank 0's TCPStore server alive
  c10::intrusive_ptr<PG> pg_;
  int rank_, world_;
  std::string backend_;
  torch::Device device_;
};

using EnvGet = std::function<const char*(const char*)>;

int env_int(const EnvGet& get, const char* name, int fallback, bool* present = nullptr) {
  const char* v = get(name);
  if (present) *present = v && *v;
  if (!v || !*v) return fallback;
  char* end = nullptr;
  const long x = std::strtol(v, &end, 10);
  if (*end != '\0' || x < 0 || x > 1 << 20)
    throw ConfigError(fmt::format("environment variable {}='{}' is not a non-negative integer", name, v));
  return static_cast<int>(x);
}

// SLURM_STEP_TASKS_PER_NODE ("2(x3),1": 2 tasks on each of the first 3 nodes, 1 on the 4th)
// at node `node`.
int tasks_on_node(const std::string& spec, int node) {
  int index = 0;
  size_t pos = 0;
  while (pos < spec.size()) {
    const size_t comma = spec.find(',', pos);
    const std::string item = spec.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    int tasks = 0, repeat = 1;
    char tail[8] = {0};
    if (std::sscanf(item.c_str(), "%d(x%d)%7s", &tasks, &repeat, tail) < 1 || tasks < 1 || repeat < 1 || tail[0] ||
        (item.find('(') != std::string::npos && item.back() != ')'))
      throw ConfigError(fmt::format("environment variable SLURM_STEP_TASKS_PER_NODE='{}' is not Slurm's "
                                    "'N(xM),K' form",
                                    spec));
    if (item.find('(') == std::string::npos && item.find_first_not_of("0123456789") != std::string::npos)
      throw ConfigError(fmt::format("environment variable SLURM_STEP_TASKS_PER_NODE='{}' is not Slurm's "
                                    "'N(xM),K' form",
                                    spec));
    if (node < index + repeat) return tasks;
    index += repeat;
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  throw ConfigError(fmt::format("environment variable SLURM_STEP_TASKS_PER_NODE='{}' names no node {}", spec, node));
}

DistEnv slurm_env(const EnvGet& get) {
  DistEnv env;
  env.launcher = "slurm";
  env.world_size = env_int(get, "SLURM_STEP_NUM_TASKS", 1);
  if (env.world_size < 1) throw ConfigError("environment variable SLURM_STEP_NUM_TASKS must be >= 1");
  env.rank = env_int(get, "SLURM_PROCID", 0);
  env.local_rank = env_int(get, "SLURM_LOCALID", 0);
  if (env.rank >= env.world_size)
    throw ConfigError(fmt::format("environment variable SLURM_PROCID={} is outside [0, SLURM_STEP_NUM_TASKS={})",
                                  env.rank, env.world_size));
  if (const char* t = get("SLURM_STEP_TASKS_PER_NODE"); t && *t)
    env.local_world_size = tasks_on_node(t, env_int(get, "SLURM_NODEID", 0));
  if (env.world_size == 1) return env;
  const char* nodes = get("SLURM_STEP_NODELIST");
  if (!nodes || !*nodes) nodes = get("SLURM_JOB_NODELIST");
  if (!nodes || !*nodes)
    throw ConfigError("a Slurm step of several tasks without SLURM_STEP_NODELIST or SLURM_JOB_NODELIST: rank 0's "
                      "host is unknown");
  env.master_addr = first_host(nodes);
  if (const char* a = get("MASTER_ADDR"); a && *a) env.master_addr = a;
  bool has_port = false;
  env.master_port = env_int(get, "MASTER_PORT", 0, &has_port);
  if (!has_port) {
    bool has_job = false;
    const int job = env_int(get, "SLURM_JOB_ID", 0, &has_job);
    if (!has_job)
      throw ConfigError("a Slurm step of several tasks without MASTER_PORT or SLURM_JOB_ID: no rendezvous port");
    env.master_port = 15000 + job % 20000;
  }
  if (env.master_port < 1 || env.master_port > 65535)
    throw ConfigError(fmt::format("environment variable MASTER_PORT={} is not a TCP port", env.master_port));
  return env;
}

// What "auto" means for these options: NCCL for CUDA tensors when the build has it, else Gloo.
std::string auto_backend(const CollectiveOptions& o) {
  return o.device.is_cuda() && compat::has_nccl() ? "nccl" : "gloo";
}

std::string resolve_backend(const CollectiveOptions& o) {
  std::string b = o.backend;
  if (b == "auto") b = auto_backend(o);
  if (b != "gloo" && b != "nccl")
    throw ConfigError(fmt::format("config key 'runtime.dist_backend': '{}' is not one of auto, gloo, nccl",
                                  o.backend));
  if (b == "nccl" && !compat::has_nccl())
    throw ConfigError("the NCCL backend was asked for, but this LibTorch build has no NCCL (use gloo)");
  if (b == "gloo" && !compat::has_gloo())
    throw ConfigError(o.device.is_cuda() ? "the Gloo backend was asked for, but this build has no Gloo (use nccl)"
                                         : "this build has no Gloo process group (LibTorch without Gloo, or "
                                           "gloo/config.h missing at build time): CPU runs need world size 1");
  return b;
}

// Every rank announces itself and waits for all the others (see the header).
void rendezvous(c10d::Store& store, const DistEnv& env, std::chrono::milliseconds timeout) {
  store.set(fmt::format("arrived/{}", env.rank), std::vector<uint8_t>{1});
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    std::vector<int> missing;
    for (int r = 0; r < env.world_size; ++r)
      if (!store.check({fmt::format("arrived/{}", r)})) missing.push_back(r);
    if (missing.empty()) return;
    if (std::chrono::steady_clock::now() > deadline) {
      std::string who;
      for (int r : missing) who += (who.empty() ? "" : ", ") + std::to_string(r);
      throw DistError(fmt::format(
          "rendezvous at {}:{} timed out after {} s: rank{} {} never arrived (world size {}, this is rank {})",
          env.master_addr, env.master_port, timeout.count() / 1000.0, missing.size() > 1 ? "s" : "", who,
          env.world_size, env.rank));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

// The c10d process group for `backend` over `pg_store`; `keep_alive` is the store that must
// outlive it (rank 0's TCPStore server, or the in-process store at world size 1).
CollectivePtr make_group(const std::string& backend, c10::intrusive_ptr<c10d::Store> keep_alive,
                         c10::intrusive_ptr<c10d::Store> pg_store, const DistEnv& env,
                         const CollectiveOptions& options) {
  try {
#ifdef DMGN_HAS_NCCL
    if (backend == "nccl") {
      auto o = c10d::ProcessGroupNCCL::Options::create();
      o->timeout = options.timeout;
      auto pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(pg_store, env.rank, env.world_size, o);
      return std::make_shared<C10dCollective<c10d::ProcessGroupNCCL>>(keep_alive, pg, env.rank, env.world_size,
                                                                       backend, options.device);
    }
#endif
#ifdef DMGN_HAS_GLOO
    auto o = c10d::ProcessGroupGloo::Options::create(options.timeout);
    if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"); ifname && *ifname)
      o->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
    else if (env.master_addr == "127.0.0.1" || env.master_addr == "localhost")
      o->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
    else
      o->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    o->threads = 2;
    auto pg = c10::make_intrusive<c10d::ProcessGroupGloo>(pg_store, env.rank, env.world_size, o);
    return std::make_shared<C10dCollective<c10d::ProcessGroupGloo>>(keep_alive, pg, env.rank, env.world_size, backend,
                                                                     options.device);
#else
    throw DistError(fmt::format("rank {}: this build has no {} process group", env.rank, backend));
#endif
  } catch (const DistError&) {
    throw;
  } catch (const std::exception& e) {
    throw DistError(fmt::format("rank {}: could not create the {} process group: {}", env.rank, backend,
                                error_summary(e)));
  }
}

}  // namespace

DistEnv dist_env_from(const std::function<const char*(const char*)>& get) {
  DistEnv env;
  bool has_world = false, has_rank = false, has_port = false;
  env.world_size = env_int(get, "WORLD_SIZE", 1, &has_world);
  if (!has_world) {
    if (const char* step = get("SLURM_STEP_NUM_TASKS"); step && *step) return slurm_env(get);
    return env;
  }
  env.launcher = "torchrun";
  if (env.world_size < 1) throw ConfigError("environment variable WORLD_SIZE must be >= 1");
  env.rank = env_int(get, "RANK", 0, &has_rank);
  env.local_rank = env_int(get, "LOCAL_RANK", env.rank);
  env.local_world_size = std::max(1, env_int(get, "LOCAL_WORLD_SIZE", 1));
  env.master_port = env_int(get, "MASTER_PORT", 29500, &has_port);
  if (const char* a = get("MASTER_ADDR"); a && *a) env.master_addr = a;
  if (env.world_size > 1 && !has_rank)
    throw ConfigError(fmt::format("environment variable RANK is missing (WORLD_SIZE={})", env.world_size));
  if (env.rank >= env.world_size)
    throw ConfigError(
        fmt::format("environment variable RANK={} is outside [0, WORLD_SIZE={})", env.rank, env.world_size));
  if (env.world_size > 1 && !has_port)
    throw ConfigError(fmt::format("environment variable MASTER_PORT is missing (WORLD_SIZE={})", env.world_size));
  if (env.master_port < 1 || env.master_port > 65535)
    throw ConfigError(fmt::format("environment variable MASTER_PORT={} is not a TCP port", env.master_port));
  return env;
}

DistEnv dist_env_from_environment() {
  return dist_env_from([](const char* name) { return static_cast<const char*>(std::getenv(name)); });
}

CollectivePtr make_collective(const DistEnv& env, const CollectiveOptions& options) {
  if (env.world_size <= 1 && options.backend == "auto" && auto_backend(options) == "gloo")
    return std::make_shared<LocalCollective>();
  const std::string backend = resolve_backend(options);
  if (env.world_size <= 1) {
    // A process group of one (NCCL on a single GPU, or an explicit backend): the same
    // all-reduce and broadcast calls as at world size N, over an in-process store.
    c10::intrusive_ptr<c10d::Store> store = c10::make_intrusive<c10d::HashStore>();
    return make_group(backend, store, c10::make_intrusive<c10d::PrefixStore>("pg", store), env, options);
  }

  c10d::TCPStoreOptions so;
  so.port = static_cast<uint16_t>(env.master_port);
  so.isServer = env.rank == 0;
  so.numWorkers = static_cast<size_t>(env.world_size);
  so.waitWorkers = false;  // arrival is checked below, naming whoever is missing
  so.timeout = options.timeout;
  c10::intrusive_ptr<c10d::Store> tcp;
  try {
    tcp = c10::make_intrusive<c10d::TCPStore>(env.master_addr, so);
  } catch (const std::exception& e) {
    if (env.rank == 0)
      throw DistError(fmt::format("rank 0 could not host the rendezvous store at {}:{}: {}", env.master_addr,
                                  env.master_port, error_summary(e)));
    throw DistError(fmt::format("rank {}: rank 0 never arrived: no rendezvous store at {}:{} within {} s ({})",
                                env.rank, env.master_addr, env.master_port, options.timeout.count() / 1000.0,
                                error_summary(e)));
  }
  auto store = c10::make_intrusive<c10d::PrefixStore>("dmgn", tcp);
  try {
    rendezvous(*store, env, options.timeout);
  } catch (const DistError&) {
    throw;
  } catch (const std::exception& e) {
    throw DistError(fmt::format("rank {}: rendezvous at {}:{} failed: {}", env.rank, env.master_addr,
                                env.master_port, error_summary(e)));
  }
  return make_group(backend, tcp, c10::make_intrusive<c10d::PrefixStore>("pg", store), env, options);
}

void broadcast_module(Collective& c, torch::nn::Module& module, int root) {
  if (c.backend() == "none") return;
  torch::NoGradGuard g;
  std::vector<torch::Tensor> ts;
  for (auto& p : module.parameters()) ts.push_back(p);
  for (auto& b : module.buffers())
    if (b.defined()) ts.push_back(b);
  // Parameters are leaves that require grad: broadcast into detached views of them.
  for (auto& t : ts) t = t.detach();
  c.broadcast(ts, root);
}

void broadcast_buffers(Collective& c, torch::nn::Module& module, int root) {
  if (c.backend() == "none") return;
  torch::NoGradGuard g;
  std::map<std::pair<c10::ScalarType, std::string>, std::vector<torch::Tensor>> groups;
  for (auto& b : module.buffers())
    if (b.defined() && b.numel() > 0) groups[{b.scalar_type(), b.device().str()}].push_back(b);
  for (auto& [kind, bufs] : groups) {
    std::vector<torch::Tensor> parts;
    for (auto& b : bufs) parts.push_back(b.reshape({-1}));
    std::vector<torch::Tensor> flat{torch::cat(parts)};
    c.broadcast(flat, root);
    int64_t off = 0;
    for (auto& b : bufs) {
      b.copy_(flat[0].slice(0, off, off + b.numel()).view_as(b));
      off += b.numel();
    }
  }
}

GradientBuckets::GradientBuckets(std::vector<torch::Tensor> params, int64_t bucket_bytes)
    : params_(std::move(params)), bucket_bytes_(bucket_bytes) {
  if (bucket_bytes_ < 1) throw ConfigError("config key 'runtime.bucket_mb' must be > 0");
}

void GradientBuckets::lay_out(const std::vector<size_t>& with_grad) {
  buckets_.clear();
  int64_t bytes = 0;
  for (size_t i : with_grad) {
    const auto g = params_[i].grad();
    const int64_t b = g.numel() * static_cast<int64_t>(g.element_size());
    const bool same_kind = !buckets_.empty() && !buckets_.back().members.empty() && [&] {
      const auto first = params_[buckets_.back().members.front()].grad();
      return first.scalar_type() == g.scalar_type() && first.device() == g.device();
    }();
    if (buckets_.empty() || !same_kind || bytes + b > bucket_bytes_) {
      buckets_.push_back({});
      bytes = 0;
    }
    buckets_.back().members.push_back(i);
    bytes += b;
  }
  for (auto& bucket : buckets_) {
    int64_t n = 0;
    for (size_t i : bucket.members) n += params_[i].grad().numel();
    bucket.flat = torch::empty({n}, params_[bucket.members.front()].grad().options());
  }
  laid_out_for_ = with_grad;
}

void GradientBuckets::average(Collective& c) {
  if (c.backend() == "none") return;
  torch::NoGradGuard g;
  std::vector<size_t> with_grad;
  for (size_t i = 0; i < params_.size(); ++i)
    if (params_[i].grad().defined()) with_grad.push_back(i);
  if (with_grad != laid_out_for_) lay_out(with_grad);
  const double inv = 1.0 / c.world_size();
  for (auto& bucket : buckets_) {
    int64_t off = 0;
    for (size_t i : bucket.members) {
      const auto grad = params_[i].grad();
      bucket.flat.slice(0, off, off + grad.numel()).copy_(grad.reshape({-1}));
      off += grad.numel();
    }
    std::vector<torch::Tensor> flat{bucket.flat};
    c.all_reduce_sum(flat);
    bucket.flat.mul_(inv);
    off = 0;
    for (size_t i : bucket.members) {
      auto grad = params_[i].grad();
      grad.copy_(bucket.flat.slice(0, off, off + grad.numel()).view_as(grad));
      off += grad.numel();
    }
  }
}

torch::Tensor all_gather_rows(Collective& c, const torch::Tensor& row) {
  TORCH_CHECK(row.dim() == 1, "all_gather_rows expects a 1-D tensor");
  if (c.backend() == "none") return row.unsqueeze(0).clone();
  // Sum of zero rows plus one filled row per rank: exact in any dtype, done in int64 for
  // integers and float64 for floats.
  const auto wide = row.is_floating_point() ? torch::kFloat64 : torch::kInt64;
  std::vector<torch::Tensor> all{torch::zeros({c.world_size(), row.numel()}, row.options().dtype(wide))};
  all[0][c.rank()].copy_(row.to(wide));
  c.all_reduce_sum(all);
  return all[0].to(row.scalar_type());
}

void broadcast_string(Collective& c, std::string& s, int root) {
  if (c.backend() == "none") return;
  std::vector<torch::Tensor> len{torch::tensor({static_cast<int64_t>(s.size())}, torch::kInt64)};
  c.broadcast(len, root);
  const int64_t n = len[0].item<int64_t>();
  std::vector<int32_t> codes(static_cast<size_t>(std::max<int64_t>(n, 1)), 0);
  if (c.rank() == root)
    for (int64_t i = 0; i < n; ++i) codes[static_cast<size_t>(i)] = static_cast<unsigned char>(s[i]);
  std::vector<torch::Tensor> bytes{torch::tensor(codes, torch::kInt32)};
  c.broadcast(bytes, root);
  const auto acc = bytes[0].accessor<int32_t, 1>();
  s.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) s[static_cast<size_t>(i)] = static_cast<char>(acc[i]);
}

std::vector<double> all_reduce_values(Collective& c, std::vector<double> values) {
  if (c.backend() == "none" || values.empty()) return values;
  std::vector<torch::Tensor> t{torch::tensor(values, torch::kFloat64)};
  c.all_reduce_sum(t);
  const auto acc = t[0].accessor<double, 1>();
  for (size_t i = 0; i < values.size(); ++i) values[i] = acc[static_cast<int64_t>(i)];
  return values;
}

}  // namespace dmgn::train
