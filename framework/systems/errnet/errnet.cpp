#include "systems/errnet/errnet.h"

#include <fmt/format.h>

#include <algorithm>

#include "core/error.h"
#include "core/options.h"
#include "models/import.h"

namespace dmgn::models {

ErrNet::ErrNet(const Config& cfg) {
  int64_t n_feats = 0, resblocks = 0, se_reduction = 0, bottom_kernel = 0;
  double res_scale = 0;
  bool pyramid = true;
  std::string vgg_weights, init;
  const Config m = cfg.sub("model");
  read_options(m, {{"n_feats", &n_feats},
                   {"resblocks", &resblocks},
                   {"se_reduction", &se_reduction},
                   {"res_scale", &res_scale},
                   {"bottom_kernel", &bottom_kernel},
                   {"pyramid", &pyramid},
                   {"hypercolumn", &hypercolumn_},
                   {"taps", &taps_},
                   {"vgg_weights", &vgg_weights},
                   {"init", &init}});
  if (n_feats < (pyramid ? 4 : 1))
    throw ConfigError(fmt::format("config key 'model.n_feats' = {} must be >= {}{}", n_feats, pyramid ? 4 : 1,
                                  pyramid ? " (the pyramid pooling's stages have n_feats / 4 channels)" : ""));
  if (resblocks < 0) throw ConfigError("config key 'model.resblocks' must be >= 0");
  if (se_reduction < 0 || (se_reduction > 0 && n_feats / se_reduction < 1))
    throw ConfigError(fmt::format("config key 'model.se_reduction' = {}: 0 (no SE layer) or at most model.n_feats "
                                  "({}), the SE layer's hidden width being n_feats / se_reduction",
                                  se_reduction, n_feats));
  if (bottom_kernel < 1 || bottom_kernel % 2 == 0)
    throw ConfigError(fmt::format("config key 'model.bottom_kernel' = {} must be odd and >= 1 (zero padding "
                                  "(k - 1) / 2 keeps the size)",
                                  bottom_kernel));
  if (init != "edsr" && init != "normal" && init != "kaiming" && init != "xavier")
    throw ConfigError(fmt::format("config key 'model.init': '{}' is not one of edsr, normal, kaiming, xavier", init));
  if (hypercolumn_) nn::check_vgg_taps(taps_, "model.taps");

  // The VGG-19 first (the reference builds self.vgg before net_i); held without the hypercolumn
  // too, for the perceptual loss.
  vgg_ = register_module("vgg", nn::Vgg19());
  vgg_->set_weights_key("model.vgg_weights");
  if (!vgg_weights.empty()) vgg_->load_weights(vgg_weights);

  errnet::DrNetOptions o;
  o.in_channels = 3;
  if (hypercolumn_)
    for (const auto t : taps_) o.in_channels += nn::Vgg19Impl::channels_at(t);
  o.n_feats = n_feats;
  o.resblocks = resblocks;
  o.se_reduction = se_reduction;
  o.res_scale = res_scale;
  o.bottom_kernel = bottom_kernel;
  o.pyramid = pyramid;
  drnet_ = errnet::build_drnet(*this, o);

  // networks.init_weights(net_i, init_type): "edsr" (the default of options/errnet) keeps
  // PyTorch's layer defaults; the others redraw every conv, transposed conv and linear weight
  // and leave the biases as they are (weights_init_normal / _kaiming / _xavier).
  {
    torch::NoGradGuard g;
    for (auto& w : drnet_.weights()) {
      if (init == "normal") w.normal_(0.0, 0.02);
      else if (init == "kaiming") torch::nn::init::kaiming_normal_(w, 0.0, torch::kFanIn, torch::kLeakyReLU);
      else if (init == "xavier") torch::nn::init::xavier_normal_(w, 0.02);
    }
  }

  spec_.input_range = InputRange::zero_one;
  spec_.size_multiple = 2;
  spec_.task = cfg.get_string("task.name");
  spec_.primary = "background";
  spec_.outputs = {{"background", OutputDecl::Kind::image, false,
                    "T, the transmission layer (DRNet's output, after its final ReLU)", "output_i"}};
}

torch::Tensor ErrNet::network_input(const torch::Tensor& image) {
  if (!hypercolumn_) return image;
  const int64_t h = image.size(2), w = image.size(3);
  std::vector<torch::Tensor> parts{image};
  {
    torch::NoGradGuard no_grad;  // the reference detaches the features; the VGG-19 is frozen
    for (const auto& f : vgg_->forward(image, taps_)) parts.push_back(nn::resize_bilinear(f, h, w, false));
  }
  return torch::cat(parts, 1);
}

Outputs ErrNet::forward(const torch::Tensor& input) {
  Outputs out;
  out.set("background", drnet_.forward(network_input(input)));
  return out;
}

std::vector<std::pair<std::string, int64_t>> ErrNet::parameter_sections() const {
  int64_t vgg = 0, all = 0;
  for (const auto& p : vgg_->parameters()) vgg += p.numel();
  for (const auto& p : parameters()) all += p.numel();
  return {{"DRNet", all - vgg}, {"VGG-19 features (frozen)", vgg}};
}

int64_t ErrNet::import_reference(const std::map<std::string, torch::Tensor>& state, const std::string& source) {
  std::map<std::string, torch::Tensor> full;
  bool has_vgg = false;
  const std::string theirs = "vgg_pretrained_features.";
  for (const auto& [raw, t] : state) {
    std::string name = raw.rfind("module.", 0) == 0 ? raw.substr(7) : raw;
    if (name.rfind(theirs, 0) == 0) name = "vgg." + name.substr(theirs.size());
    has_vgg = has_vgg || name.rfind("vgg.", 0) == 0;
    full[name] = t;
  }
  // DRNet alone (a released checkpoint's 'icnn'): the VGG-19 stays as built (model.vgg_weights).
  int64_t kept = 0;
  if (!has_vgg)
    for (const auto& p : vgg_->named_parameters(true)) {
      full["vgg." + p.key()] = p.value().detach().clone();
      ++kept;
    }
  return import_by_name(*this, full, source) - kept;
}

InputRequirement errnet_input_requirement(const Config& cfg) {
  const Config m = cfg.sub("model");
  InputRequirement r;
  r.multiple = 2;
  r.multiple_why =
      "errnet: conv3 (stride 2) and deconv1 (x2 transposed) give 2 * ceil(H/2), the input's size for even sides only";
  r.min_side = 2;
  r.why = "errnet: conv3's stride-2 level and deconv1's x2";
  const auto need = [&](int64_t side, std::string why) {
    if (side > r.min_side) {
      r.min_side = side;
      r.why = std::move(why);
    }
  };
  if (m.get_bool("hypercolumn")) {
    const auto taps = m.get_ints("taps");
    if (!taps.empty()) {
      const int64_t deepest = *std::max_element(taps.begin(), taps.end());
      const int64_t pools = nn::Vgg19Impl::pools_before(deepest);
      need(int64_t(1) << pools, fmt::format("errnet: model.taps: the hypercolumn's VGG-19 features {} come after {} "
                                            "2x2 poolings",
                                            deepest, pools));
    }
  }
  if (m.get_bool("pyramid")) {
    const int64_t largest = errnet::pyramid_scales().back();
    need(largest, fmt::format("errnet: model.pyramid: the pyramid pooling's AvgPool2d({}) runs at full resolution, "
                              "after deconv1",
                              largest));
  }
  r.min_side = (r.min_side + r.multiple - 1) / r.multiple * r.multiple;
  return r;
}

}  // namespace dmgn::models
