#pragma once
// `dmgn study create`: a blind study's samples drawn from a dataset, every method's output
// rendered once and kept in the study's folder, the study recorded in the store.
//
// A method is written [NAME=]SPEC:
//   run:ID or ID       a run of the store: its latest checkpoint, applied to each sample as
//                      `dmgn eval` applies it (padding, task routing, clamping);
//   folder:PATH, PATH  another method's saved outputs, an image per sample paired by file stem
//                      with the sample's id (as `dmgn score` pairs files); re-encoded as PNG;
//   input              the input itself (the "do nothing" baseline).
// NAME (shown in reports only) defaults to the run's variant, the folder's name, or "Input".
// The samples: `samples` distinct indices of the dataset drawn with `seed`, in draw order (the
// order every subject sees). The dataset is opened with `config` (+ `sets`) when given, else
// with the first run method's config; `dataset` defaults to that config's first data.test.
// Every image gets a random opaque file name, so nothing a browser sees names a method. The
// folder is written under a temporary name and renamed when complete; nothing is stored on an
// error, which names the method, sample or file at fault.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "store/study_store.h"

namespace dmgn::study {

struct MethodSpec {
  std::string name;    // "" = the default
  std::string kind;    // run | folder | input
  std::string source;  // run id, folder path, ""
};

// Parses one --methods entry; ConfigError naming it when malformed.
MethodSpec parse_method(const std::string& text);

struct CreateOptions {
  std::string name, dataset;
  std::vector<std::string> methods;
  int64_t samples = 50;
  int64_t seed = 0;
  std::filesystem::path store = "results/runs.sqlite";
  std::filesystem::path dir;  // default: <store's folder>/studies/<name>
  std::string config;         // opens the dataset (default: the first run method's config)
  std::vector<std::string> sets;
  std::string git_revision;
};

store::Study create_study(const CreateOptions& options);

}  // namespace dmgn::study
