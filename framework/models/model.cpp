#include "models/model.h"

#include <fmt/format.h>

#include <map>

#include "core/error.h"

namespace dmgn::models {

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
  if (cfg.has("model.head.vgg_weights")) {
    const std::string file = cfg.get_string("model.head.vgg_weights");
    if (!file.empty() && model->shared_vgg()) model->shared_vgg()->load_weights(file);
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

}  // namespace dmgn::models
