#pragma once
// `dmgn` subcommands. Each add_* registers one subcommand (and its callback) on the app.
#include <CLI/CLI.hpp>

#include <string>
#include <vector>

#include "core/config.h"
#include "store/run_store.h"

namespace dmgn::cli {

void add_list(CLI::App& app);
void add_config(CLI::App& app);
void add_info(CLI::App& app);
void add_train(CLI::App& app);
void add_eval(CLI::App& app);
void add_official(CLI::App& app);  // import-official, parity
void add_store(CLI::App& app);     // runs
void add_report(CLI::App& app);    // report table*|fig6|curves|qualitative|masks
void add_visualize(CLI::App& app); // visualize CHECKPOINT
void add_launch(CLI::App& app);    // launch (local data-parallel workers)
void add_bench(CLI::App& app);     // bench scaling | data
void add_data(CLI::App& app);      // data check | list
void add_score(CLI::App& app);     // score (PSNR/SSIM of image files or folders)
void add_sweep(CLI::App& app);     // sweep FILE, sweep status FILE
void add_bench_model(CLI::App& bench);  // bench model (a subcommand of bench)

// Shared helpers.
Config load_config(const std::string& file, const std::vector<std::string>& sets);
// experiments/presets/<task>.toml of this source tree (or `dir` if given).
std::string preset_file(const std::string& task, const std::string& dir = "");
std::string thousands(int64_t n);  // 65518888 -> "65,518,888"
// A benchmark row with what identifies the setting: config hash, device, torch, git revision.
store::BenchRow bench_row(const Config& cfg, const char* bench, const std::string& device);
// Opens an existing run store; IoError naming the file when there is none (nothing trained yet).
store::RunStore open_existing_store(const std::string& file);

}  // namespace dmgn::cli
