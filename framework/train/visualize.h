#pragma once
// Dumps what a model makes of a few samples, for the qualitative figures (reports/figures/):
// per sample the input, B_coarse, the refined background B, the noise layer R (if the model
// has one) and the ground truth as 8-bit RGB PNGs, every RDMC gating mask of the coarse and
// refine generators (channel mean, 0..1 -> 0..255 grey PNG, native resolution; Fig. 1) and
// their means, plus PSNR/SSIM; and manifest.json describing them (format in
// reports/figures/README.md). Images are padded to a multiple of 4 like evaluate().
#include <filesystem>
#include <string>

#include "data/dataset.h"
#include "metrics/spec.h"
#include "models/model.h"

namespace dmgn::train {

struct DumpOptions {
  std::filesystem::path dir;  // created; manifest.json + PNGs
  int64_t count = 4;          // samples (the dataset's first ones)
  torch::Device device = torch::kCPU;
  // Recorded in the manifest.
  std::string checkpoint, variant;
  int64_t run_id = 0, step = 0;
};

// Returns the manifest's path. Throws DataError when the dataset is empty.
std::filesystem::path dump_outputs(models::Model& model, const data::Dataset& dataset, const metrics::Spec& spec,
                                   const DumpOptions& options);

}  // namespace dmgn::train
