#include "systems/ibcln/ibcln.h"

#include <fmt/format.h>

#include <cmath>

#include "core/error.h"
#include "core/options.h"
#include "models/import.h"

namespace dmgn::models {

Ibcln::Ibcln(const Config& cfg) {
  std::string init, vgg_weights;
  read_options(cfg.sub("model"), {{"iterations", &iterations_},
                                  {"r_init", &r_init_},
                                  {"init", &init},
                                  {"vgg_weights", &vgg_weights}});
  if (iterations_ < 1) throw ConfigError(fmt::format("config key 'model.iterations' = {} must be >= 1", iterations_));
  if (init != "normal" && init != "pytorch")
    throw ConfigError(fmt::format("config key 'model.init': '{}' is not one of normal, pytorch", init));
  // The reference builds G_T, G_R (then D and the VGG-19 of its loss); ours the VGG-19 first, as
  // ERRNet's model, which does not change either generator's draw below.
  vgg_ = register_module("vgg", nn::Vgg19());
  vgg_->set_weights_key("model.vgg_weights");
  if (!vgg_weights.empty()) vgg_->load_weights(vgg_weights);
  g_t_ = register_module("net_G_T", ibcln::Generator());
  g_r_ = register_module("net_G_R", ibcln::Generator());
  // networks.init_weights(init_type='normal', gain 0.02): every conv / transposed conv weight
  // N(0, 0.02), every bias 0; "pytorch" keeps the layers' defaults.
  if (init == "normal") {
    torch::NoGradGuard g;
    for (auto* gen : {g_t_.get(), g_r_.get()})
      for (auto* layer : gen->layers())
        for (auto& p : layer->named_parameters(false)) {
          if (p.key() == "weight") p.value().normal_(0.0, 0.02);
          else p.value().zero_();
        }
  }
  spec_.input_range = InputRange::zero_one;
  spec_.size_multiple = 4;
  spec_.task = cfg.get_string("task.name");
  spec_.primary = "background";
  spec_.iterations = iterations_;
  using K = OutputDecl::Kind;
  spec_.outputs = {{"background", K::image, false, "T_N, the last iteration's transmission", "fake_T"},
                   {"reflection", K::image, false, "R_N, the last iteration's reflection", "fake_R"},
                   {"transmissions", K::image, true, "T_1 .. T_N", "T_iter"},
                   {"reflections", K::image, true, "R_1 .. R_N", "R_iter"},
                   {"background_half", K::image, false, "G_T's H/2 side image of the last iteration", "fake_T2"},
                   {"background_quarter", K::image, false, "G_T's H/4 side image of the last iteration", "fake_T4"},
                   {"layers", K::image, true, "cat[T_k, R_k] per iteration (6 channels)", ""}};
}

Outputs Ibcln::forward(const torch::Tensor& input) {
  const int64_t n = input.size(0), h = input.size(2), w = input.size(3);
  const auto state = [&] {
    return torch::zeros({n, ibcln::GeneratorImpl::kStateChannels, h / 4, w / 4}, input.options());
  };
  torch::Tensor t_h = state(), t_c = state(), r_h = state(), r_c = state();
  torch::Tensor t = input, r = torch::full_like(input, r_init_);
  std::vector<torch::Tensor> ts, rs, layers;
  ibcln::GeneratorOutput gt;
  for (int64_t k = 0; k < iterations_; ++k) {
    gt = g_t_->forward(torch::cat({input, t, r}, 1), t_h, t_c);
    t = gt.image;
    t_h = gt.h;
    t_c = gt.c;
    const auto gr = g_r_->forward(torch::cat({input, t, r}, 1), r_h, r_c);
    r = gr.image;
    r_h = gr.h;
    r_c = gr.c;
    ts.push_back(t);
    rs.push_back(r);
    layers.push_back(torch::cat({t, r}, 1));
  }
  Outputs out;
  out.set("background", t);
  out.set("reflection", r);
  out.set_list("transmissions", ts);
  out.set_list("reflections", rs);
  out.set("background_half", gt.half);
  out.set("background_quarter", gt.quarter);
  out.set_list("layers", layers);
  return out;
}

std::vector<std::pair<std::string, int64_t>> Ibcln::parameter_sections() const {
  const auto count = [](const torch::nn::Module& m) {
    int64_t n = 0;
    for (const auto& p : m.parameters()) n += p.numel();
    return n;
  };
  return {{"G_T", count(*g_t_)}, {"G_R", count(*g_r_)}, {"VGG-19 features (frozen, the perceptual loss's)", count(*vgg_)}};
}

int64_t Ibcln::loss_only_parameters() const {
  int64_t n = 0;
  for (const auto& p : vgg_->parameters()) n += p.numel();
  return n;
}

int64_t Ibcln::import_reference(const std::map<std::string, torch::Tensor>& state, const std::string& source) {
  std::map<std::string, torch::Tensor> full;
  for (const auto& [raw, t] : state) full[raw.rfind("module.", 0) == 0 ? raw.substr(7) : raw] = t;
  int64_t kept = 0;
  if (full.lower_bound("vgg.") == full.end() || full.lower_bound("vgg.")->first.rfind("vgg.", 0) != 0)
    for (const auto& p : vgg_->named_parameters(true)) {
      full["vgg." + p.key()] = p.value().detach().clone();
      ++kept;
    }
  return import_by_name(*this, full, source) - kept;
}

InputRequirement ibcln_input_requirement(const Config&) {
  InputRequirement r;
  r.multiple = 4;
  r.multiple_why = "ibcln: conv2 and conv4 (stride 2) and the x2 transposed convs meet the skips at H/2 and H only "
                   "for sides that are multiples of 4";
  r.min_side = 4;
  r.why = "ibcln: two stride-2 levels";
  r.downscale = {{"background_half", 2}, {"background_quarter", 4}};
  return r;
}

}  // namespace dmgn::models
