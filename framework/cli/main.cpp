// dmgn: the command line. Errors print as one line "dmgn: error: ..." with exit code 1; the
// other exit statuses are listed in cli/commands.h.
#include <fmt/format.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>

#include "cli/commands.h"
#include "core/error.h"
#include "train/builtins.h"

namespace {

// A data-parallel worker says which rank it is (several print at once).
std::string with_rank(std::string s) {
  const char* world = std::getenv("WORLD_SIZE");
  const char* rank = std::getenv("RANK");
  if (!world) {  // a task of a Slurm step (train/distributed.h)
    world = std::getenv("SLURM_STEP_NUM_TASKS");
    rank = std::getenv("SLURM_PROCID");
  }
  if (world && rank && std::atoi(world) > 1) s = std::string("[rank ") + rank + "] " + s;
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  // A full file-size limit makes writes fail with EFBIG (a clear error naming the file)
  // instead of killing the process mid-checkpoint.
  std::signal(SIGXFSZ, SIG_IGN);
  CLI::App app{"dmgn: Deep-Masking Generative Network research framework"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Help for every subcommand");
  // The registries first: some commands are made from them (`dmgn report <table>`).
  try {
    dmgn::register_builtins();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dmgn: error: %s\n", dmgn::error_summary(e).c_str());
    return 1;
  }
  dmgn::cli::add_list(app);
  dmgn::cli::add_config(app);
  dmgn::cli::add_info(app);
  dmgn::cli::add_train(app);
  dmgn::cli::add_eval(app);
  dmgn::cli::add_restore(app);
  dmgn::cli::add_official(app);
  dmgn::cli::add_store(app);
  dmgn::cli::add_report(app);
  dmgn::cli::add_visualize(app);
  dmgn::cli::add_launch(app);
  dmgn::cli::add_bench(app);
  dmgn::cli::add_data(app);
  dmgn::cli::add_score(app);
  dmgn::cli::add_sweep(app);
  dmgn::cli::add_study(app);
  dmgn::cli::add_board(app);
  dmgn::cli::add_datasets_options(app);
  try {
    dmgn::Config::set_dataset_files(dmgn::cli::default_dataset_files());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dmgn: error: %s\n", dmgn::error_summary(e).c_str());
    return 1;
  }
  if (argc > 1) {
    const std::string unknown = dmgn::cli::unknown_command(app, argv[1]);
    if (!unknown.empty()) {
      std::fprintf(stderr, "dmgn: error: %s\n", unknown.c_str());
      return 1;
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const dmgn::cli::ExitStatus& s) {
    return s.code;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dmgn: error: %s\n", with_rank(dmgn::error_summary(e)).c_str());
    return 1;
  }
  return 0;
}
