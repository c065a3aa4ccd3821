#pragma once
// Collective: the data-parallel primitives the trainer uses (rank, world size, all-reduce,
// broadcast, barrier), over torch's c10d process groups: Gloo for CPU tensors, NCCL when the
// LibTorch build has it (USE_C10D_NCCL) and the run is on CUDA. At world size 1 a CPU run
// with backend "auto" needs no process group (every operation is the identity, backend()
// "none"); a CUDA run (auto = nccl) or an explicit "gloo" / "nccl" gets a real process group
// of one over an in-process store, so one GPU runs the same NCCL calls as N.
//
// Workers read the torchrun variables (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR,
// MASTER_PORT), so `torchrun --no-python --nproc-per-node N dmgn train ...` launches them;
// `dmgn launch --nproc N -- train ...` (train/launch.h) sets the same variables itself.
// Without WORLD_SIZE, a task that Slurm's `srun` started reads Slurm's (SLURM_STEP_NUM_TASKS,
// SLURM_PROCID, SLURM_LOCALID, SLURM_NODEID, SLURM_STEP_TASKS_PER_NODE, SLURM_STEP_NODELIST):
// rank 0 is the first task, on the first host of the step's node list, and MASTER_PORT,
// when unset, is 15000 + SLURM_JOB_ID mod 20000 (one port per job; every task computes the
// same). A batch script itself (no step, no SLURM_STEP_NUM_TASKS) stays a single worker.
//
// Rendezvous: rank 0 hosts a c10d TCPStore at MASTER_ADDR:MASTER_PORT; every rank writes an
// arrival key and waits for all the others. A rank that is missing when the timeout expires
// is named in the error ("rank 1 never arrived"); a client that cannot reach rank 0's store
// says rank 0 never arrived. Collective operations carry the same timeout, and a peer that
// dies mid-run (its sockets close) turns into a DistError on the others instead of a hang.
#include <torch/torch.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace dmgn::train {

class Collective {
 public:
  virtual ~Collective() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  virtual std::string backend() const = 0;  // "none" (world size 1), "gloo" or "nccl"
  // In place: every tensor becomes the element-wise sum over ranks (same shapes and dtypes
  // on every rank; CPU tensors are staged through the GPU for NCCL).
  virtual void all_reduce_sum(std::vector<torch::Tensor>& tensors) = 0;
  // In place: every rank receives root's values.
  virtual void broadcast(std::vector<torch::Tensor>& tensors, int root = 0) = 0;
  virtual void barrier() = 0;
};
using CollectivePtr = std::shared_ptr<Collective>;

// The launch environment. Without WORLD_SIZE the process is a single worker (rank 0 of 1).
struct DistEnv {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  int local_world_size = 1;      // workers on this machine (threads are shared among them)
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  std::string launcher = "none";  // "none" (one worker), "torchrun" (its variables) or "slurm"
};
// Reads the torchrun variables, else Slurm's (above); ConfigError naming the variable when one
// is malformed or inconsistent (RANK outside [0, WORLD_SIZE), WORLD_SIZE > 1 without
// MASTER_PORT, a node list Slurm would not write, ...).
DistEnv dist_env_from_environment();
// The same from `get` (a variable's value, or nullptr when unset): testable without setenv.
DistEnv dist_env_from(const std::function<const char*(const char*)>& get);

struct CollectiveOptions {
  std::string backend = "auto";  // auto (nccl on CUDA when built with it, else gloo) | gloo | nccl
  std::chrono::milliseconds timeout{std::chrono::seconds(300)};
  torch::Device device = torch::kCPU;  // where the training tensors live
};
// World size 1: a collective without a process group, or a group of one (see the top).
// Otherwise: rendezvous (above), then a c10d process group. DistError when the rendezvous
// fails or times out.
CollectivePtr make_collective(const DistEnv& env, const CollectiveOptions& options = {});

// --- data-parallel helpers -------------------------------------------------------------

// Rank `root`'s parameters and buffers overwrite every other rank's (DDP's initial sync).
void broadcast_module(Collective& c, torch::nn::Module& module, int root = 0);

// Rank `root`'s buffers (e.g. BatchNorm running statistics) overwrite every other rank's, in
// one coalesced broadcast per dtype: DDP's broadcast_buffers, done before every step so that
// ranks stay bitwise identical. No-op at world size 1 or without buffers.
void broadcast_buffers(Collective& c, torch::nn::Module& module, int root = 0);

// Gradient averaging in buckets, as DDP does: the parameters' gradients, in parameter order,
// are packed into flat buffers of at most `bucket_bytes` (a larger single gradient gets its
// own bucket), each bucket is all-reduced (sum) and divided by the world size, and the
// results are copied back. Parameters whose gradient is undefined after backward are left
// out; every rank runs the same graph, so the set is the same everywhere. The flat buffers are
// laid out once and reused every step (again only if the set of defined gradients changes).
// No-op without a process group (backend "none").
class GradientBuckets {
 public:
  GradientBuckets(std::vector<torch::Tensor> params, int64_t bucket_bytes);
  void average(Collective& c);
  int64_t bucket_count() const { return static_cast<int64_t>(buckets_.size()); }

 private:
  struct Bucket {
    std::vector<size_t> members;  // indices into params_
    torch::Tensor flat;
  };
  void lay_out(const std::vector<size_t>& with_grad);

  std::vector<torch::Tensor> params_;
  int64_t bucket_bytes_;
  std::vector<size_t> laid_out_for_;  // params_ indices with a gradient when buckets_ was built
  std::vector<Bucket> buckets_;
};

// Every rank contributes a 1-D tensor of the same length; returns [world_size, n] (row r from
// rank r) on every rank, in the input's dtype (exact for integers and floats).
torch::Tensor all_gather_rows(Collective& c, const torch::Tensor& row);
// root's string on every rank.
void broadcast_string(Collective& c, std::string& s, int root = 0);
// Element-wise sum over ranks of a few doubles (flags, loss values), in float64.
std::vector<double> all_reduce_values(Collective& c, std::vector<double> values);

}  // namespace dmgn::train
