#include "systems/dmgn/official_import.h"

#include <fmt/format.h>
#include <fmt/ranges.h>  // fmt::join (its home since fmt 11)

#include <regex>
#include <set>

#include "core/error.h"

namespace dmgn::models {
namespace {

// Official module -> ours, for the blocks that are not cells.
const std::vector<std::pair<std::string, std::string>>& fixed_names() {
  static const std::vector<std::pair<std::string, std::string>> m = {
      {"head_feat.conv.1", "head.conv1"},           {"head_feat.conv.4", "head.conv2"},
      {"seperator.conv.1", "separator.conv1"},      {"seperator.conv.4", "separator.conv2"},
      {"seperator.mask.0", "separator.mask1"},      {"seperator.mask.2", "separator.mask2"},
      {"seperator2.conv.1", "ndm.conv1"},           {"seperator2.conv.4", "ndm.conv2"},
      {"seperator2.mask.0", "ndm.mask1"},           {"seperator2.mask.2", "ndm.mask2"},
      {"outconv_B_coarse.outconv.1", "gen_b.out1"}, {"outconv_B_coarse.outconv.3", "gen_b.out2"},
      {"outconv_R.outconv.1", "gen_r.out1"},        {"outconv_R.outconv.3", "gen_r.out2"},
      {"Channel_weight.Depthwise_conv.1", "aca.fconv"},
      {"Channel_weight.Channelwise_conv1.0", "aca.fc1"},
      {"Channel_weight.Channelwise_conv1.2", "aca.fc2"},
      {"Channel_weight.mask.0", "aca.sharp"},
      {"refine.conv.1", "refine.in"},               {"refine.outconv.0", "refine.out1"},
      {"refine.outconv.2", "refine.out2"},
  };
  return m;
}

// Official cell names inside G_b / R_Branch -> ours.
const std::map<std::string, std::string>& coarse_cells() {
  static const std::map<std::string, std::string> m = {
      {"s_m0", "down0"}, {"s_m1", "down1"}, {"s_m2", "mid0"},  {"s_m3", "mid1"},
      {"s_m4", "mid2"},  {"s_m5", "mid3"},  {"s_m21", "mid4"}, {"s_m31", "mid5"},
      {"s_m41", "mid6"}, {"s_m51", "mid7"}, {"s_m6", "upcell0"}, {"s_m7", "upcell1"},
      {"up1", "up0"},    {"up2", "up1"}};
  return m;
}

// Inside a cell (Seperation_module[_B]) or an UpSample.
std::string cell_inner(const std::string& inner) {
  static const std::map<std::string, std::string> m = {
      {"conv1.1", "conv1"}, {"conv1.4", "conv2"},     {"mask_1.mask.0", "mask1"},
      {"mask_1.mask.2", "mask2"}, {"conv3.conv.1", "down"}, {"up.1", "conv1"}, {"up.4", "conv2"}};
  auto it = m.find(inner);
  return it == m.end() ? "" : it->second;
}

}  // namespace

std::string official_to_ours(const std::string& name_in) {
  std::string name = name_in;
  if (name.rfind("module.", 0) == 0) name = name.substr(7);
  const auto dot = name.rfind('.');
  if (dot == std::string::npos) return "";
  const std::string module = name.substr(0, dot), leaf = name.substr(dot + 1);  // weight / bias

  static const std::regex vgg(R"(head_feat\.vgg\.vgg_pretrained_features\.(\d+))");
  std::smatch m;
  if (std::regex_match(module, m, vgg)) return fmt::format("head.vgg.{}.{}", m[1].str(), leaf);
  for (const auto& [ofc, ours] : fixed_names())
    if (module == ofc) return ours + "." + leaf;

  // refine.s_mK.<inner> -> refine.cellK.<inner>
  static const std::regex refine_cell(R"(refine\.s_m(\d)\.(.+))");
  if (std::regex_match(module, m, refine_cell)) {
    const auto inner = cell_inner(m[2].str());
    return inner.empty() ? "" : fmt::format("refine.cell{}.{}.{}", m[1].str(), inner, leaf);
  }
  // [r_branch.]<cell>.<inner> -> gen_b / gen_r
  std::string gen = "gen_b", rest = module;
  if (rest.rfind("r_branch.", 0) == 0) {
    gen = "gen_r";
    rest = rest.substr(9);
  }
  const auto cdot = rest.find('.');
  if (cdot == std::string::npos) return "";
  const auto cell = coarse_cells().find(rest.substr(0, cdot));
  if (cell == coarse_cells().end()) return "";
  const auto inner = cell_inner(rest.substr(cdot + 1));
  return inner.empty() ? "" : fmt::format("{}.{}.{}.{}", gen, cell->second, inner, leaf);
}

int64_t import_official(Model& model, const std::map<std::string, torch::Tensor>& state,
                        const std::string& source) {
  auto params = model.named_parameters();
  std::set<std::string> filled;
  torch::NoGradGuard guard;
  for (const auto& [name, tensor] : state) {
    const std::string ours = official_to_ours(name);
    if (ours.empty())
      throw DataError(fmt::format("'{}': tensor '{}' is not part of the official DMGN layout", source, name));
    auto* dst = params.find(ours);
    if (!dst)
      throw DataError(fmt::format("'{}': tensor '{}' maps to '{}', which this model does not have (build "
                                  "it with the task preset and model.vestigial = true)",
                                  source, name, ours));
    if (dst->sizes() != tensor.sizes())
      throw DataError(fmt::format("'{}': tensor '{}' has shape [{}], ours '{}' has [{}]", source, name,
                                  fmt::join(tensor.sizes(), ","), ours, fmt::join(dst->sizes(), ",")));
    if (!filled.insert(ours).second)
      throw DataError(fmt::format("'{}': two tensors map to '{}'", source, ours));
    dst->copy_(tensor.to(dst->dtype()));
  }
  for (const auto& item : params)
    if (!filled.count(item.key()))
      throw DataError(fmt::format("'{}' has no tensor for our parameter '{}'", source, item.key()));
  return static_cast<int64_t>(filled.size());
}

}  // namespace dmgn::models
