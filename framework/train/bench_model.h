#pragma once
// `dmgn bench model`: the speed and complexity of a configured model on this device (Table
// III, and the comparison with the official code in tools/peer_bench.py). For each precision
// asked for (fp32, bf16 autocast), on one device and in the config's memory format
// (runtime.channels_last):
//   - inference latency per image at each size: batch 1, eval mode, c10::InferenceMode, the
//     median of `repeats` passes after `warmup`, each synchronised on CUDA; on CUDA also as the
//     replay of a CUDA graph of the same pass (`graphs`), which removes the per-kernel launch
//     cost that an eager pass pays on the host;
//   - forward+backward of the generator at batch `train_batch` x `train_size`^2: the
//     summed L1 of every image output the model declares against a random target, backward, median of `fwd_bwd_repeats`
//     (the same measurement tools/peer_bench.py makes on the official code); on CUDA also as a
//     graph replay (forward, loss and backward captured together);
//   - optionally the whole training step (the config's recipe: e.g. G and critic, losses, Adam) at the
//     same batch on the config's training data, and its images/s; on CUDA under
//     runtime.host_sync = "log" also as the replay of a CUDA graph of the whole step;
//   - each discriminator of the recipe (forward+backward of LSGAN's real term at the same batch);
//   - optionally (--profile SIZE) where the time of one eager inference pass at SIZE and of one
//     forward+backward goes, by kind of kernel (train/profile.h);
//   - the fraction of the device's peak that the multiply-accumulate rate reaches: 2 x MACs /
//     time against (a) the matrix-product ceiling measured here in the same precision and
//     (b) the datasheet peak when the device is one we know (H100, H200).
// Parameters exclude the vestigial ones (models/model.h). MACs are the architecture's (the
// official layout's count, whatever kernels compute it).
// Each part is measured on its own: a part that fails (a non-finite training step, a graph that
// cannot be captured) is recorded in `failures` and the others still run, so what was measured
// is printed and stored either way.
#include <torch/torch.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/config.h"
#include "train/profile.h"

namespace dmgn::train {

struct Timing {
  double median_ms = 0, min_ms = 0, max_ms = 0;
  int repeats = 0;
};

struct LatencyAtSize {
  int64_t size = 0;
  uint64_t macs = 0;
  Timing t;                                   // eager
  Timing graph;                               // CUDA graph replay (repeats 0 = not measured)
  const Timing& best() const { return graph.repeats > 0 && graph.median_ms < t.median_ms ? graph : t; }
  double fraction_measured = 0;               // 2*MACs/s over the measured GEMM ceiling
  std::optional<double> fraction_datasheet;   // over the datasheet peak, when known
};

struct CriticBench {
  std::string name;        // the recipe's module name (d_g, d_h, discriminator)
  int64_t parameters = 0;
  Timing fwd_bwd;
};

struct PrecisionBench {
  std::string precision;  // "fp32" or "bf16"
  double gemm_tflops = 0;                     // measured matrix-product ceiling
  std::optional<double> datasheet_tflops;     // the device's published dense peak
  std::string datasheet_mode;                 // "fp32", "tf32" (cuDNN TF32 on) or "bf16"
  std::vector<LatencyAtSize> latency;
  uint64_t train_macs = 0;                    // forward MACs of one batch at train size
  Timing fwd_bwd;                             // repeats 0 = not measured
  Timing fwd_bwd_graph;                       // as a CUDA graph replay (repeats 0 = not measured)
  const Timing& best_fwd_bwd() const {
    return fwd_bwd_graph.repeats > 0 && (fwd_bwd.repeats == 0 || fwd_bwd_graph.median_ms < fwd_bwd.median_ms)
               ? fwd_bwd_graph
               : fwd_bwd;
  }
  double fwd_bwd_fraction_measured = 0;       // counting backward as 2x forward
  int64_t train_steps = 0;                    // 0 = not measured
  double train_step_ms = 0, train_images_per_s = 0;
  double train_step_graph_ms = 0;             // as a CUDA graph replay (host_sync = "log"); 0 = not measured
  std::vector<CriticBench> critics;           // each discriminator's forward+backward (with fwd_bwd_repeats)
  // --profile: where one eager inference pass at profile_size and one forward+backward go.
  std::optional<DeviceProfile> profile_inference, profile_fwd_bwd;
};

struct ModelBench {
  int64_t parameters = 0;
  int threads = 0;
  std::string device, device_name;
  bool channels_last = false, cudnn_tf32 = false;
  int64_t train_batch = 0, train_size = 0;
  bool graphs = false;                        // CUDA graph replays were attempted
  std::vector<PrecisionBench> runs;
  std::vector<std::string> failures;          // "<precision> <part>: <error>", one per failed part
};

struct ModelBenchOptions {
  std::vector<int64_t> sizes{256, 512};
  std::vector<std::string> precisions{"fp32"};
  int repeats = 20, warmup = 3;
  int fwd_bwd_repeats = 20;  // 0 = skip
  int64_t train_steps = 0, train_warmup = 2, train_batch = 4, train_size = 256;
  bool peak = true;          // measure the GEMM ceiling
  bool graphs = true;        // on CUDA, also time CUDA graph replays
  int64_t profile_size = 0;  // > 0: profile one inference pass at this size and one forward+backward
};

ModelBench measure_model(const Config& cfg, const ModelBenchOptions& options);

// Dense matrix-product ceiling on `device` in `dtype` (fp32 or bf16), TFLOP/s: the median of
// n x n products (n = 4096 on CUDA, 1024 on the CPU).
double measure_gemm_tflops(const torch::Device& device, torch::ScalarType dtype);

// The published dense peak in TFLOP/s for a device name we know, in `mode` ("fp32", "tf32",
// "bf16"); nullopt for any other device (CPUs included).
std::optional<double> datasheet_tflops(const std::string& device_name, const std::string& mode);

}  // namespace dmgn::train
