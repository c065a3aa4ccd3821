#include "systems/dmgn/dmgn.h"

#include <fmt/format.h>

#include <algorithm>

#include "core/error.h"
#include "systems/dmgn/official_import.h"

namespace dmgn::models {

Dmgn::Dmgn(const Config& cfg) {
  const Config m = cfg.sub("model");
  spec_.input_range = input_range_from_string(m.get_string("input_range"));
  noise_branch_ = m.get_bool("noise_branch");
  coarse_residual_ = m.get_bool("coarse_residual");
  const bool vestigial = m.get_bool("vestigial");
  const int64_t c = m.get_ints("widths").at(0);

  head_ = register_module("head", nn::heads().make(m.get_string("head.name"), m.sub("head"), c));
  head_->use_low_res_taps(nn::head_taps_from_string(cfg.get_string("runtime.head_taps")));
  if (noise_branch_)
    separator_ = register_module(
        "separator", nn::block_as<nn::SeparatorImpl>(m.get_string("separator.name"), m, {c},
                                                     "separator (Eq. 2)"));
  const auto coarse_gen = m.get_string("coarse.generator");
  gen_b_ = register_module("gen_b", nn::generators().make(coarse_gen, m, {c}));
  if (noise_branch_) gen_r_ = register_module("gen_r", nn::generators().make(coarse_gen, m, {c}));

  if (m.get_bool("refine.enabled")) {
    for (const auto& s : m.get_strings("refine.sources")) {
      bool* flag = s == "coarse" ? &use_coarse_src_ : s == "fb" ? &use_fb_src_ : s == "r" ? &use_r_src_ : nullptr;
      if (!flag)
        throw ConfigError(fmt::format(
            "config key 'model.refine.sources': unknown source '{}' (known: coarse, fb, r)", s));
      if (*flag)
        throw ConfigError(fmt::format("config key 'model.refine.sources': '{}' listed twice", s));
      *flag = true;
    }
    if (!use_coarse_src_ && !use_fb_src_ && !use_r_src_)
      throw ConfigError("config key 'model.refine.sources' must name at least one source");
    use_aca_ = m.get_bool("refine.aca");
    use_ndm_ = m.get_bool("refine.ndm.enabled");
    if ((use_r_src_ || use_ndm_) && !noise_branch_)
      throw ConfigError(
          "model.refine uses the noise layer R (sources 'r' or ndm.enabled) but model.noise_branch "
          "is false");
    if (use_aca_ && !use_fb_src_ && !use_r_src_)
      throw ConfigError("config key 'model.refine.aca' is true but no source ('fb', 'r') uses it");
    if (use_aca_)
      aca_ = register_module("aca", nn::block_as<nn::AcaImpl>(m.get_string("aca.name"), m, {c},
                                                              "source weighting (Eq. 6-8)"));
    // The official rain/haze models build the NDM without using it (vestigial).
    ndm_vestigial_ = !use_ndm_ && vestigial && noise_branch_;
    if (use_ndm_ || ndm_vestigial_)
      ndm_ = register_module("ndm", nn::block_as<nn::NdmImpl>(m.get_string("refine.ndm.name"), m, {c},
                                                              "noise distribution map (Eq. 9)"));
    const int64_t sources = int64_t(use_coarse_src_) + use_fb_src_ + use_r_src_;
    refine_ = register_module("refine",
                              nn::generators().make(m.get_string("refine.generator"), m, {sources * c}));
  }
  declare(cfg);
}

int64_t Dmgn::vestigial_parameters() const {
  int64_t n = 0;
  for (const auto& m : modules(/*include_self=*/false))
    if (const auto* cell = dynamic_cast<const nn::Cell*>(m.get())) n += cell->vestigial_parameters();
  if (ndm_vestigial_ && ndm_)
    for (const auto& p : ndm_->parameters()) n += p.numel();
  return n;
}

void Dmgn::declare(const Config& cfg) {
  using K = OutputDecl::Kind;
  auto& o = spec_.outputs;
  if (refine_) o.push_back({"background", K::image, false, "B, the refined background (Eq. 3)", "B"});
  o.push_back({"coarse", K::image, false, "B_coarse, the coarse background (Eq. 1)", "B_coarse"});
  if (gen_r_) o.push_back({"noise", K::image, false, "R, the generated noise layer (Eq. 1)", "R"});
  if (separator_) o.push_back({"separator_mask", K::mask, false, "A, the separator's mask (Eq. 2)", ""});
  if (use_ndm_) o.push_back({"background_map", K::map, false, "A_b = 1 - A_r, the noise distribution prior (Eq. 9)", ""});
  o.push_back({"coarse_masks", K::mask, true, "the masks of G_b's RDMC cells, in order (Fig. 1)", ""});
  if (refine_) o.push_back({"refine_masks", K::mask, true, "the masks of G_refine, in order (Eq. 10)", ""});
  spec_.primary = refine_ ? "background" : "coarse";
  spec_.size_multiple = 4;  // the official test code pads to a multiple of 4
  spec_.task = cfg.get_string("task.name");
}

Outputs Dmgn::forward(const torch::Tensor& input) {
  Outputs out;
  auto f = head_->forward(input);  // F = F(I)
  torch::Tensor fb = f, fr;
  if (separator_) {
    auto s = separator_->forward(f);  // Eq. 2
    fb = s.fb;
    fr = s.fr;
    out.set("separator_mask", s.mask);
  }
  auto gb = gen_b_->forward(fb);  // Eq. 1
  const torch::Tensor coarse = coarse_residual_ ? gb.out + input : gb.out;
  out.set("coarse", coarse);
  out.set_list("coarse_masks", std::move(gb.masks));
  torch::Tensor noise;
  if (gen_r_) {
    auto gr = gen_r_->forward(fr);
    noise = coarse_residual_ ? gr.out + input : gr.out;
    out.set("noise", noise);
  }
  if (!refine_) return out;  // the primary output is B_coarse
  torch::Tensor f_noise, f_coarse;
  const bool need_noise = use_r_src_ || use_ndm_;
  if (need_noise && use_coarse_src_) {  // F(R) and F(B_coarse) in one pass over both (per image)
    const auto both = head_->forward(torch::cat({noise, coarse}, 0));
    f_noise = both.narrow(0, 0, input.size(0));
    f_coarse = both.narrow(0, input.size(0), input.size(0));
  } else if (need_noise) {
    f_noise = head_->forward(noise);  // F(R)
  } else if (use_coarse_src_) {
    f_coarse = head_->forward(coarse);  // F(B_coarse)
  }
  std::vector<torch::Tensor> e;  // Eq. 6
  if (use_coarse_src_) e.push_back(f_coarse);
  if (use_fb_src_) e.push_back(use_aca_ ? aca_->forward(fb, 1.0) : fb);
  if (use_r_src_) e.push_back(use_aca_ ? aca_->forward(f_noise, -1.0) : -f_noise);
  torch::Tensor prior;
  if (use_ndm_) {
    prior = 1.0 - ndm_->forward(f, f_noise);  // A_b = 1 - A_r (Eq. 9)
    out.set("background_map", prior);
  }
  auto r = refine_->forward(e.size() == 1 ? e[0] : torch::cat(e, 1), prior);
  out.set("background", r.out + input);  // Eq. 3, residual
  out.set_list("refine_masks", std::move(r.masks));
  return out;
}

InputRequirement dmgn_input_requirement(const Config& cfg) {
  const Config m = cfg.sub("model");
  InputRequirement r;
  const auto need = [&](int64_t side, std::string why) {
    if (side > r.min_side) {
      r.min_side = side;
      r.why = std::move(why);
    }
  };
  need(2, "3x3 convolutions padded by reflection");
  if (m.get_string("head.name") == "vgg_hypercolumn") {
    const auto taps = m.get_ints("head.taps");
    if (!taps.empty()) {
      const int64_t deepest = *std::max_element(taps.begin(), taps.end());
      const int64_t pools = nn::Vgg19Impl::pools_before(deepest);
      need(int64_t(1) << pools, fmt::format("model.head.taps: VGG-19 features {} come after {} 2x2 poolings",
                                            deepest, pools));
    }
  }
  const auto widths = m.get_ints("widths");
  if (widths.size() > 1) {
    const int64_t downs = static_cast<int64_t>(widths.size()) - 1;
    need((int64_t(1) << downs) + 1,
         fmt::format("model.widths: {} stride-2 levels, the deepest padded by reflection", downs));
  }
  if (m.get_bool("refine.enabled")) {
    const auto d = m.get_ints("refine.dilations");
    if (!d.empty()) {
      const int64_t most = *std::max_element(d.begin(), d.end());
      need(most + 1, fmt::format("model.refine.dilations: reflection padding {}", most));
    }
    // ACA's depthwise f_conv on the full-resolution features: reflection padding `pad` needs
    // pad + 1 px, and the padded side must hold the kernel.
    const auto sources = m.get_strings("refine.sources");
    const bool aca_used = m.get_bool("refine.aca") && std::any_of(sources.begin(), sources.end(), [](const auto& s) {
                            return s == "fb" || s == "r";
                          });
    if (aca_used) {
      const int64_t k = m.get_int("aca.kernel"), pad = m.get_int("aca.pad");
      need(std::max(pad + 1, k - 2 * pad),
           fmt::format("model.aca: its {}x{} f_conv with reflection padding {}", k, k, pad));
    }
  }
  // Every level up-samples to its skip's size and G_refine keeps the resolution: any side at
  // least this large works unpadded (multiple 1; evaluation still pads to 4 as the official
  // test code does).
  return r;
}

int64_t Dmgn::import_reference(const std::map<std::string, torch::Tensor>& state, const std::string& source) {
  return import_official(*this, state, source);
}

}  // namespace dmgn::models
