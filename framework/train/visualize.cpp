#include "train/visualize.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <fstream>

#include "core/error.h"
#include "data/image_io.h"
#include "metrics/psnr_ssim.h"
#include "train/evaluate.h"

namespace dmgn::train {
namespace fs = std::filesystem;

namespace {

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20)
          out += fmt::format("\\u{:04x}", static_cast<int>(c));
        else
          out += c;
    }
  }
  return out + "\"";
}

std::string json_number(double v) { return std::isfinite(v) ? fmt::format("{:.6g}", v) : "null"; }

using torch::indexing::Slice;

// A [0,1] image tensor 1x3xHxW cropped to h x w, as 8-bit PNG.
void save_rgb(const fs::path& file, const torch::Tensor& x01, int64_t h, int64_t w) {
  data::write_image(file, data::to_mat(x01.index({0, Slice(), Slice(0, h), Slice(0, w)}).clamp(0, 1).cpu()));
}

// Masks of one generator: grey PNGs (channel mean of the first sample) and their means.
void save_masks(const std::vector<torch::Tensor>& masks, const fs::path& dir, const std::string& stem,
                std::vector<std::string>& files, std::vector<double>& means) {
  for (size_t k = 0; k < masks.size(); ++k) {
    const auto m = masks[k].detach().to(torch::kFloat).cpu();
    const auto grey = m[0].mean(0).clamp(0, 1);  // HxW
    const std::string name = fmt::format("{}_{:02d}.png", stem, k);
    data::write_image(dir / name, data::to_mat(grey.unsqueeze(0).expand({3, grey.size(0), grey.size(1)}).contiguous()));
    files.push_back(json_string(name));
    means.push_back(m.mean().item<double>());
  }
}

std::string json_list(const std::vector<std::string>& items) { return fmt::format("[{}]", fmt::join(items, ", ")); }

}  // namespace

fs::path dump_outputs(models::Model& model, const data::Dataset& dataset, const metrics::Spec& spec,
                      const DumpOptions& o) {
  const int64_t n = std::min<int64_t>(o.count, static_cast<int64_t>(dataset.size()));
  if (n <= 0) throw DataError(fmt::format("dataset '{}' has no samples to visualise", dataset.name()));
  std::error_code ec;
  fs::create_directories(o.dir, ec);
  if (ec) throw IoError(fmt::format("cannot create '{}': {}", o.dir.string(), ec.message()));
  c10::InferenceMode inference;
  const bool was_training = model.is_training();
  model.eval();
  std::vector<std::string> samples;
  for (int64_t i = 0; i < n; ++i) {
    const auto s = dataset.get(static_cast<size_t>(i), 0);
    const int64_t h = s.input().size(-2), w = s.input().size(-1);
    const auto input = pad_to_multiple(s.input().unsqueeze(0).to(o.device), model.spec().size_multiple);
    const auto out = model.forward(model.to_model(input));
    const auto& spec_m = model.spec();
    const auto b = model.from_model(out.at(spec_m.primary));
    const std::string p = fmt::format("{:03d}", i);
    save_rgb(o.dir / (p + "_input.png"), s.input().unsqueeze(0), h, w);
    save_rgb(o.dir / (p + "_background.png"), b, h, w);
    save_rgb(o.dir / (p + "_target.png"), s.background().unsqueeze(0), h, w);
    // The model's declared outputs: images as "<id>_<key>.png" (manifest key <key>, null when
    // absent), mask lists "<name>_masks" as "<id>_mask_<name>_NN.png" with their means
    // (manifest keys <name>_masks and <name>_mask_means).
    std::vector<std::string> fields;
    for (const auto& d : spec_m.outputs) {
      // "<id>_background.png" is the primary output's file already (the manifest's "background").
      if (d.kind == models::OutputDecl::Kind::image && !d.list && d.key != "background") {
        std::string file = "null";
        if (out.has(d.key)) {
          save_rgb(o.dir / (p + "_" + d.key + ".png"), model.from_model(out.at(d.key)), h, w);
          file = json_string(p + "_" + d.key + ".png");
        }
        fields.push_back(fmt::format("{}: {}", json_string(d.key), file));
      } else if (d.kind == models::OutputDecl::Kind::mask && d.list) {
        const std::string group = d.key.size() > 6 && d.key.compare(d.key.size() - 6, 6, "_masks") == 0
                                      ? d.key.substr(0, d.key.size() - 6)
                                      : d.key;
        std::vector<std::string> files, means;
        std::vector<double> mean_values;
        save_masks(out.list(d.key), o.dir, p + "_mask_" + group, files, mean_values);
        for (double v : mean_values) means.push_back(json_number(v));
        fields.push_back(fmt::format("{}: {}, {}: {}", json_string(group + "_masks"), json_list(files),
                                     json_string(group + "_mask_means"), json_list(means)));
      }
    }
    const auto bc = b.index({0, Slice(), Slice(0, h), Slice(0, w)}).clamp(0, 1).cpu();
    const auto q = metrics::assess(bc, s.background(), spec);
    const auto q0 = metrics::assess(s.input(), s.background(), spec);
    samples.push_back(fmt::format(
        "    {{\"id\": {}, \"input\": {}, \"background\": {}, \"target\": {},\n"
        "     \"psnr\": {}, \"ssim\": {}, \"psnr_input\": {}, \"ssim_input\": {}{}}}",
        json_string(s.id), json_string(p + "_input.png"), json_string(p + "_background.png"),
        json_string(p + "_target.png"), json_number(q.psnr), json_number(q.ssim), json_number(q0.psnr),
        json_number(q0.ssim), fields.empty() ? "" : fmt::format(",\n     {}", fmt::join(fields, ",\n     "))));
  }
  if (was_training) model.train();
  const fs::path manifest = o.dir / "manifest.json";
  std::ofstream f(manifest);
  f << fmt::format(
      "{{\n  \"checkpoint\": {}, \"run_id\": {}, \"variant\": {}, \"step\": {}, \"dataset\": {}, \"metric\": {},\n"
      "  \"samples\": [\n{}\n  ]\n}}\n",
      json_string(o.checkpoint), o.run_id, json_string(o.variant), o.step, json_string(dataset.name()),
      json_string(spec.name), fmt::join(samples, ",\n"));
  if (!f) throw IoError(fmt::format("cannot write '{}'", manifest.string()));
  return manifest;
}

}  // namespace dmgn::train
