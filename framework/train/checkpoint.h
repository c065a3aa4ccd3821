#pragma once
// Checkpoints: named modules (parameters and buffers) and named optimizer states, as a
// training recipe names them (DMGN: modules "model", "discriminator"; optimizers "opt_g",
// "opt_d"), the counters needed to resume, the RNG state and the resolved config text.
// Format 2 lists its parts; format 1 (before recipes) stored DMGN's four fixed parts under the
// same names and still loads. Written atomically
// (temp file in the same folder, fsync, rename, fsync of the folder), so a crash or a full
// disk leaves the previous checkpoint intact.
#include <torch/torch.h>

#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace dmgn::train {

struct CheckpointMeta {
  int64_t step = 0;            // optimisation steps done
  int64_t epoch = 0;           // epoch the next batch belongs to
  int64_t batch_in_epoch = 0;  // batches of that epoch already consumed
  std::string config_text;     // canonical resolved config
  std::string kind = "train";  // "train" (resumable) or "weights" (e.g. imported)
  int64_t world_size = 1;      // data-parallel ranks that wrote it (resume needs as many)
  // Each rank's CPU generator state, row r = rank r (all_gather_rows). Empty when saving:
  // this process's generator is stored as rank 0's.
  torch::Tensor rng_states;
  // The same for the CUDA generator of a run on CUDA (undefined on CPU runs).
  torch::Tensor cuda_rng_states;
};

// The state of torch's default generator for `device` (CPU, or the current CUDA device).
torch::Tensor generator_state(const torch::Device& device);

struct CheckpointParts {
  std::vector<std::pair<std::string, torch::nn::Module*>> modules;
  std::vector<std::pair<std::string, torch::optim::Optimizer*>> optimizers;
  // Only the model's weights (module "model"): evaluation, export, import.
  static CheckpointParts weights(torch::nn::Module* model) { return {{{"model", model}}, {}}; }
  torch::nn::Module* module(const std::string& name) const;  // null when absent
};

void save_checkpoint(const std::filesystem::path& file, const CheckpointMeta& meta,
                     const CheckpointParts& parts);
// Loads into the given parts (shapes must match; a missing or mis-shaped tensor, or one holding
// NaN or Inf, is an error naming the file and the tensor; so are non-finite Adam moments).
// Restores rank `rank`'s RNG state for "train" checkpoints.
CheckpointMeta load_checkpoint(const std::filesystem::path& file, const CheckpointParts& parts,
                               int rank = 0);
// Reads only the metadata (e.g. the config to rebuild the model).
CheckpointMeta read_checkpoint_meta(const std::filesystem::path& file);

// step_00001234.ckpt naming inside a run's checkpoints/ folder.
std::filesystem::path checkpoint_path(const std::filesystem::path& dir, int64_t step);
std::optional<std::filesystem::path> latest_checkpoint(const std::filesystem::path& dir);
// Deletes all but the `keep` newest step_*.ckpt files (keep <= 0 keeps all).
void prune_checkpoints(const std::filesystem::path& dir, int keep);

// Writes bytes produced by `write(tmp_path)` to `file` atomically.
void atomic_write(const std::filesystem::path& file,
                  const std::function<void(const std::filesystem::path&)>& write);

}  // namespace dmgn::train
