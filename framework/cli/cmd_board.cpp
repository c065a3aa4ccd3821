// dmgn board: a read-only local web page over the run store, left open beside training
// (framework/board/, docs/board.md).
#include <fmt/format.h>

#include <cstdio>
#include <filesystem>

#include "cli/commands.h"
#include "core/error.h"
#include "store/run_store.h"
#ifdef DMGN_WITH_STUDY_SERVER
#include "board/api.h"
#include "web/server.h"
#endif

namespace dmgn::cli {
namespace fs = std::filesystem;

void add_board(CLI::App& app) {
  auto* c = app.add_subcommand("board", "A read-only local web page over the store: runs, live curves, sweeps, "
                                        "reports (Ctrl-C stops)");
  struct Args {
    std::string host = "127.0.0.1";
    int port = 6006;
  };
  auto a = std::make_shared<Args>();
  add_output_options(c);
  c->add_option("--host", a->host, "Address to listen on: 127.0.0.1 (this machine only) or 0.0.0.0 (a lab network)");
  c->add_option("--port", a->port, "Port (0: any free one)")->check(CLI::Range(0, 65535));
  c->callback([a] {
#ifdef DMGN_WITH_STUDY_SERVER
    const std::string file = store_path();
    if (!fs::exists(file))
      throw IoError(fmt::format("store {}: no such file (train a run first, or give --store)", file));
    // A store of an older schema is migrated once (what any writing command does), so that the
    // board's read-only connections can open it; a newer one is refused by RunStore.
    if (const int before = store::RunStore::file_schema_version(file); before < store::RunStore::kSchemaVersion) {
      store::RunStore migrate(file);
      std::printf("store %s: migrated from schema version %d to %d\n", file.c_str(), before,
                  store::RunStore::kSchemaVersion);
    }
    { store::RunStore check(file, store::RunStore::Access::read_only); }
    const board::Api api(file, web::random_hex(16));
    web::Server server([&api](const web::Request& r) { return api.handle(r); });
    const int port = server.bind(a->host, a->port);
    const auto say = [](const std::string& line) {
      std::printf("%s\n", line.c_str());
      std::fflush(stdout);
    };
    say(fmt::format("board of {} on {}:{} (read-only; every page reads the store afresh)", file, a->host, port));
    const bool local = web::is_loopback(a->host);
    const std::string host = local ? a->host : "<this machine's address>";
    say(fmt::format("open: http://{}:{}/?t={}", host, port, api.token()));
    if (!local) say("bound beyond this machine: whoever has the link (its token) can read every run of the store");
    std::error_code ec;
    if (!fs::is_regular_file(board::default_d3_path(), ec))
      say(fmt::format("note: {} is missing (apt install libjs-d3): the pages show tables but no charts",
                      board::default_d3_path().string()));
    say("Ctrl-C stops the board.");
    server.serve(/*handle_signals=*/true);
    say("stopped");
#else
    throw ConfigError("this dmgn was built without cpp-httplib / nlohmann-json: apt install libcpp-httplib-dev "
                      "nlohmann-json3-dev, re-run cmake and rebuild");
#endif
  });
}

}  // namespace dmgn::cli
