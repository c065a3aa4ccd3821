#pragma once
// The history of generated images that CycleGAN-style discriminators train on (Shrivastava et
// al. 2017; CycleGAN's ImagePool, used by Physics-GAN for D_g and D_h): a buffer of up to
// `capacity` images. query(batch) returns, per image, in order:
//   - while the buffer is not full: the image itself, which is also stored;
//   - then, with probability 1/2: a stored image drawn uniformly, replaced by the new one;
//     otherwise the image itself.
// capacity 0 passes batches through. Random draws come from the CPU default generator (its
// state is saved per rank by train checkpoints), the buffer lives in module buffers ("images",
// "count"), so a resumed run continues bitwise. The buffer is rank-local (each rank keeps its
// own history, as each GPU of the reference would); a checkpoint holds rank 0's, which every
// rank of a resumed multi-rank run starts from.
#include <torch/torch.h>

#include <vector>

namespace dmgn::train {

class ImagePoolImpl : public torch::nn::Module {
 public:
  // image_shape: C, H, W of one stored image (fixed: training crops).
  ImagePoolImpl(int64_t capacity, std::vector<int64_t> image_shape);
  torch::Tensor query(const torch::Tensor& images);
  int64_t size() const;  // images stored
  int64_t capacity() const { return capacity_; }

 private:
  int64_t capacity_;
  std::vector<int64_t> shape_;
  torch::Tensor images_, count_;
  // Once full a pool stays full: from then on query() no longer reads the count back from the
  // device (no host sync per step). Only a fresh pool or one just loaded is read.
  bool known_full_ = false;
};
TORCH_MODULE(ImagePool);

}  // namespace dmgn::train
