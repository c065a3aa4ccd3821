#pragma once
// Images too large for memory at evaluation: how much memory a model needs to restore an image
// (measured, not guessed), and restoration in overlapping tiles for models of local operations.
//   Footprint          bytes ~ fixed + per_pixel x (padded) pixels, from the CPU allocator's
//                      peak while the model restores two small ramps (inference mode; the
//                      global RNG is not touched). Unknown on CUDA (an out-of-memory error is
//                      then caught per sample instead).
//   plan_tiles         the largest tile whose input (tile + 2 x overlap) fits the budget.
//   restore_in_tiles   the model on each tile with `overlap` pixels of context on every side
//                      (clipped at the image border), each output's centre pasted in place.
//                      For a model whose ModelSpec::receptive_radius <= overlap (and tiles on
//                      its size multiple) the result equals the full-size restoration.
#include <torch/torch.h>

#include <cstdint>
#include <optional>

#include "models/model.h"

namespace dmgn::train {

struct Footprint {
  bool measured = false;  // measure_footprint ran (known or not)
  bool known = false;
  double fixed = 0, per_pixel = 0;  // bytes
  // Bytes to restore an h x w input (already padded to the model's multiple).
  double bytes(int64_t h, int64_t w) const { return fixed + per_pixel * static_cast<double>(h) * static_cast<double>(w); }
};

// Measured on `device` in `dtype` with the model's memory format left to the caller (CPU only;
// on CUDA it returns an unknown footprint). The model is run in eval mode, restored after.
Footprint measure_footprint(models::Model& model, torch::Device device, torch::Dtype dtype,
                            torch::MemoryFormat memory_format = torch::MemoryFormat::Contiguous);

// Memory a restoration may plan for: runtime.memory_gb if > 0, else what the process can still
// allocate (core/cpu_memory.h). Estimates are compared after a 25% margin (kMemoryMargin).
inline constexpr double kMemoryMargin = 1.25;

struct TilePlan {
  int64_t tile = 0;     // output side of a tile (a multiple of the model's size multiple)
  int64_t overlap = 0;  // context on each side (>= the receptive radius, on the multiple)
};
// The tiling of an h x w (padded) input under `budget` bytes; nullopt when even the smallest
// tile (one size multiple, at least 16 px) does not fit.
std::optional<TilePlan> plan_tiles(const Footprint& fp, const models::ModelSpec& spec, int64_t h, int64_t w,
                                   double budget);

// `input`: 1 x C x H x W in model space, H and W multiples of the model's size multiple.
// Outputs of the input's size (images and masks) are stitched; others (lists, side outputs at
// other scales) are left out. Call under c10::InferenceMode with the model in eval mode.
models::Outputs restore_in_tiles(models::Model& model, const torch::Tensor& input, const TilePlan& plan);

}  // namespace dmgn::train
