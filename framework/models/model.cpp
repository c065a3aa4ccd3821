#include "models/model.h"

#include <fmt/format.h>

#include <map>
#include <string_view>

#include "core/error.h"
#include "models/import.h"

namespace dmgn::models {

int64_t Model::import_reference(const std::map<std::string, torch::Tensor>& state, const std::string& source) {
  return import_by_name(*this, state, source);
}

torch::Tensor Model::to_model(const torch::Tensor& x01) const {
  return spec_.input_range == InputRange::minus_one_one ? x01 * 2.0 - 1.0 : x01;
}

torch::Tensor Model::from_model(const torch::Tensor& x) const {
  return spec_.input_range == InputRange::minus_one_one ? (x + 1.0) * 0.5 : x;
}

InputRange input_range_from_string(const std::string& s) {
  if (s == "minus_one_one") return InputRange::minus_one_one;
  if (s == "zero_one") return InputRange::zero_one;
  throw ConfigError(fmt::format(
      "config key 'model.input_range': '{}' is not one of minus_one_one, zero_one", s));
}

ModelRegistry& models() {
  static ModelRegistry registry("model");
  return registry;
}

ModelPtr build_model(const Config& cfg) {
  auto model = models().make(cfg.get_string("model.name"), cfg);
  if (cfg.has("model.head.vgg_weights") && model->shared_vgg()) {
    model->shared_vgg()->set_weights_key("model.head.vgg_weights");
    const std::string file = cfg.get_string("model.head.vgg_weights");
    if (!file.empty()) model->shared_vgg()->load_weights(file);
  }
  return model;
}

namespace {

std::map<std::string, InputRequirementRule>& requirement_rules() {
  static std::map<std::string, InputRequirementRule> rules;
  return rules;
}

}  // namespace

void register_input_requirement(const std::string& model_name, InputRequirementRule rule) {
  requirement_rules()[model_name] = std::move(rule);
}

InputRequirement input_requirement(const Config& cfg) {
  const auto it = requirement_rules().find(cfg.get_string("model.name"));
  return it == requirement_rules().end() ? InputRequirement{} : it->second(cfg);
}

std::string InputRequirement::refuses(int64_t h, int64_t w) const {
  if (h < min_side || w < min_side)
    return fmt::format("smaller than the {}x{} the model takes{}", min_side, min_side, why.empty() ? "" : " (" + why + ")");
  if (multiple > 1 && (h % multiple != 0 || w % multiple != 0))
    return fmt::format("not a multiple of {} on each side, as the model takes its inputs unpadded{}", multiple,
                       multiple_why.empty() ? "" : " (" + multiple_why + ")");
  return "";
}

namespace {

std::map<std::string, std::vector<std::string>>& output_name_table() {
  static std::map<std::string, std::vector<std::string>> table;
  return table;
}

}  // namespace

void register_output_names(const std::string& model_name, std::vector<std::string> names) {
  output_name_table()[model_name] = std::move(names);
}

std::vector<std::string> output_names(const std::string& model_name) {
  const auto it = output_name_table().find(model_name);
  return it == output_name_table().end() ? std::vector<std::string>{} : it->second;
}

bool can_output(const std::string& model_name, const std::string& key) {
  const auto names = output_names(model_name);
  if (names.empty()) return true;
  for (const auto& n : names) {
    if (!n.empty() && n.back() == '*') {
      const std::string_view prefix(n.data(), n.size() - 1);
      if (key.size() > prefix.size() && std::string_view(key).substr(0, prefix.size()) == prefix) return true;
    } else if (n == key) {
      return true;
    }
  }
  return false;
}

}  // namespace dmgn::models
