#pragma once
// `dmgn` subcommands. Each add_* registers one subcommand (and its callback) on the app.
#include <CLI/CLI.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/error.h"
#include "store/run_store.h"

namespace dmgn::cli {

// Exit statuses of `dmgn` (README, "Reliability"): 0 the command completed (for train: the run
// completed); 1 an error, one line on stderr; 3 interrupted: a signal stopped the work after a
// checkpoint, and the printed command resumes exactly it; 4 the same after SIGUSR1 (a scheduler's
// warning before its time limit: requeue the job); CLI11's own codes (100-110) for a malformed
// command line.
inline constexpr int kExitError = 1;
using dmgn::kExitInterrupted;  // core/error.h
using dmgn::kExitRequeue;      // core/error.h
// Thrown by a command that has printed its own report and must end with `code`.
struct ExitStatus {
  int code;
};

// `words` as one shell command line: each word quoted when it needs it ('...' with ' escaped).
std::string shell_command(const std::vector<std::string>& words);
// One line on stdout, flushed (what a serving command prints while it runs).
void say(const std::string& line);

// The served pages (`study serve`, `board`): the link to a page on host:port with ?t=<token>
// ("<this machine's address>" for a wildcard bind, 0.0.0.0 or ::), and for a wildcard bind a
// hint naming this machine's host name.
struct PageLink {
  std::string url, hint;  // hint empty unless the bind was a wildcard
};
PageLink page_link(const std::string& host, int port, const std::string& token);
// What `study serve` and `board` throw in a build without cpp-httplib / nlohmann-json.
[[noreturn]] void no_page_server();

// An option validator: an integer >= lo ("--nproc: must be an integer >= 1, got '0'"; CLI11's
// PositiveNumber prints the range of a double instead).
CLI::Validator at_least(long long lo);
// An integer in [lo, hi], for a number that sizes a resource (processes, threads, memory): the
// message gives `why` for the upper bound, as the config's rules do.
CLI::Validator within(long long lo, long long hi, const std::string& why);
// An option validator: a number > 0 (or >= 0 with `or_zero`).
CLI::Validator positive_number(bool or_zero = false);

// The one-line error for a first argument that names no command ("unknown command 'trian'
// (did you mean 'train'?)"), or "" when it names one or is an option.
std::string unknown_command(CLI::App& app, const std::string& first);

void add_list(CLI::App& app);
void add_config(CLI::App& app);
void add_info(CLI::App& app);
void add_train(CLI::App& app);
void add_eval(CLI::App& app);
void add_restore(CLI::App& app);  // restore CHECKPOINT INPUT... --out DIR (cmd_restore.cpp)
void add_official(CLI::App& app);  // import-official, parity
void add_store(CLI::App& app);     // runs, reports
void add_report(CLI::App& app);
void add_systems(CLI::App* report);       // report systems (cmd_systems.cpp)
void add_cross_system(CLI::App* report);  // report cross-system (cmd_cross.cpp)    // report table*|fig6|curves|qualitative|masks
void add_visualize(CLI::App& app); // visualize CHECKPOINT
void add_launch(CLI::App& app);    // launch (local data-parallel workers)
void add_bench(CLI::App& app);     // bench scaling | data
void add_data(CLI::App& app);      // data check | list
void add_score(CLI::App& app);     // score (PSNR/SSIM of image files or folders)
void add_sweep(CLI::App& app);     // sweep FILE, sweep status FILE
void add_study(CLI::App& app);     // study create|serve|list|status (cmd_study.cpp)
void add_board(CLI::App& app);     // board: the read-only web page over the store (cmd_board.cpp)
// report <id> --study NAME for a table built from a human study (Table IV; cmd_study.cpp)
void add_study_table(CLI::App* report, const std::string& id, const std::string& help);
void add_bench_model(CLI::App& bench);  // bench model (a subcommand of bench)

// Where commands read and write (docs/outputs.md), the same two options on every command that
// touches the run store or writes results: --store FILE and --out-root DIR.
//   store:      --store; else <--out-root>/runs.sqlite; else the config's runtime.store (commands
//               with a config); else results/runs.sqlite.
//   run folders: <--out-root>/runs; else the config's runtime.out_dir; else beside the store.
struct Outputs {
  std::string store, root;
};
Outputs& outputs();
void add_output_options(CLI::App* cmd);
// The store this command uses (`cfg`: the config it runs, if any).
std::string store_path(const Config* cfg = nullptr);
// The output root: --out-root, else the store's folder (results/ by default).
std::filesystem::path output_root(const Config* cfg = nullptr);
// --store / --out-root into a config that trains (runtime.store, runtime.out_dir).
void apply_outputs(Config& cfg);
// The same as --set assignments (for the runs of a sweep), and as the words that repeat them on a
// printed command line.
std::vector<std::string> output_overrides();
std::vector<std::string> output_words();
// --datasets FILE (repeatable) on every leaf command of `app`: datasets files read after the
// per-user one and DMGN_DATASETS (core/config.h, docs/datasets.md).
void add_datasets_options(CLI::App& app);
// The datasets files every command reads before any --datasets: the per-user file
// ($XDG_CONFIG_HOME/dmgn/datasets.toml, else ~/.config/dmgn/datasets.toml) when it exists, then
// each file of DMGN_DATASETS (':'-separated; a named file that does not exist is an error).
std::vector<std::filesystem::path> default_dataset_files();

// Shared helpers.
Config load_config(const std::string& file, const std::vector<std::string>& sets);
// experiments/presets/<task>.toml of this source tree (or `dir` if given).
std::string preset_file(const std::string& task, const std::string& dir = "");
std::string thousands(int64_t n);  // 65518888 -> "65,518,888"
// A benchmark row with what identifies the setting: config hash, device, torch, git revision.
store::BenchRow bench_row(const Config& cfg, const char* bench, const std::string& device);
// Opens an existing run store for reading (it may sit in a read-only folder); IoError naming the
// file when there is none (nothing trained yet).
store::RunStore open_existing_store(const std::string& file);
// Opens the store a report reads; with `record`, read-write (so that the report can be kept, and
// an older schema is migrated), falling back to read-only where it cannot be written
// (read-only media, someone else's folder) with a message, and `record` set to false.
store::RunStore open_report_store(const std::string& file, bool& record);
// A generated report: printed to stdout when `out` is empty, else written to that file (IoError
// naming it when it cannot be) and "wrote FILE" printed.
void emit_report(const std::string& text, const std::string& out);
// This build's git revision (as runs and benchmarks record it).
std::string git_revision();

}  // namespace dmgn::cli
