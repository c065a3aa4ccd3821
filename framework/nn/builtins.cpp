#include "nn/builtins.h"

#include "nn/attention.h"
#include "nn/cells.h"
#include "nn/discriminators.h"
#include "nn/generators.h"
#include "nn/head.h"

namespace dmgn::nn {

void register_builtins() {
  cells().add("rdmc", "Residual Deep-Masking Cell: Y = X + M(H(X)) * H(X) (Eq. 4-5; Eq. 10 fusion)",
              [](const Config&, const CellShape& s) -> CellPtr { return std::make_shared<RdmcCell>(s); });
  cells().add("plain", "plain cell of the Base model: two 3x3 conv+ReLU, Y = H(X) (model.plain.residual)",
              [](const Config& model, const CellShape& s) -> CellPtr {
                return std::make_shared<PlainCell>(s, model.get_bool("plain.residual"));
              });

  blocks().add("separator", "separator S: one-channel spatial attention, F_b = F*A, F_r = F*(1-A) (Eq. 2)",
               [](const Config&, const BlockShape& s) -> std::shared_ptr<torch::nn::Module> {
                 return std::make_shared<SeparatorImpl>(s.channels);
               });
  blocks().add("aca", "adapted channel-wise attention on F_b and -F(R) (Eq. 6-8), shared by both",
               [](const Config& model, const BlockShape& s) -> std::shared_ptr<torch::nn::Module> {
                 const Config c = model.sub("aca");
                 return std::make_shared<AcaImpl>(s.channels, c.get_int("reduction"),
                                                  c.get_int("kernel"), c.get_int("stride"),
                                                  c.get_int("pad"));
               });
  blocks().add("ndm", "noise distribution map A_r from [F(I), F(R)] (Eq. 9), A_b = 1 - A_r",
               [](const Config& model, const BlockShape& s) -> std::shared_ptr<torch::nn::Module> {
                 const Config c = model.sub("refine.ndm");
                 return std::make_shared<NdmImpl>(
                     s.channels, ndm_normalise_from_string(c.get_string("normalise"),
                                                           c.prefix() + ".normalise"));
               });

  heads().add("vgg_hypercolumn", "frozen VGG-19 hypercolumn + input, two 3x3 conv+ReLU (feature head F)",
              [](const Config& c, int64_t channels) -> HeadPtr {
                return std::make_shared<HypercolumnHead>(c, channels);
              });

  generators().add("encoder_decoder", "G_b / G_r: cells with two downsamplings, bottleneck, skip-connected ups",
                   [](const Config& model, const GeneratorShape& s) -> GeneratorPtr {
                     return std::make_shared<EncoderDecoder>(model, s);
                   });
  generators().add("dilated_refine", "G_refine: constant-resolution dilated cells, masks fused with A_b (Eq. 10)",
                   [](const Config& model, const GeneratorShape& s) -> GeneratorPtr {
                     return std::make_shared<DilatedRefine>(model, s);
                   });

  discriminators().add("patchgan", "pix2pix N-layer PatchGAN on (B, I) (Eq. 13-14 critic)",
                       [](const Config& c) -> DiscriminatorPtr { return std::make_shared<PatchGan>(c); });
  discriminators().add("patchgan_image", "pix2pix N-layer PatchGAN on the image alone (unconditioned)",
                       [](const Config& c) -> DiscriminatorPtr { return std::make_shared<PatchGan>(c, false); });
  register_min_side("patchgan", patchgan_min_side);
  register_min_side("patchgan_image", patchgan_min_side);
}

}  // namespace dmgn::nn
