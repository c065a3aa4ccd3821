// dmgn board: a read-only local web page over the run store, left open beside training
// (framework/board/, docs/board.md).
#include <fmt/format.h>

#include <filesystem>

#include "cli/commands.h"
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
    // A store of an older schema is migrated once (what any writing command does), so that the
    // board's read-only connections can open it; a missing or newer one is refused below.
    if (fs::exists(file))
      if (const int before = store::RunStore::file_schema_version(file); before < store::RunStore::kSchemaVersion) {
        store::RunStore migrate(file);
        say(fmt::format("store {}: migrated from schema version {} to {}", file, before,
                        store::RunStore::kSchemaVersion));
      }
    open_existing_store(file);
    const board::Api api(file, web::random_hex(16));
    web::Server server([&api](const web::Request& r) { return api.handle(r); });
    const int port = server.bind(a->host, a->port);
    say(fmt::format("board of {} on {}:{} (read-only; every page reads the store afresh)", file, a->host, port));
    const auto link = page_link(a->host, port, api.token());
    say("open: " + link.url);
    if (!link.hint.empty()) say(link.hint);
    if (!web::is_loopback(a->host))
      say("bound beyond this machine: whoever has the link (its token) can read every run of the store");
    std::error_code ec;
    if (!fs::is_regular_file(board::default_d3_path(), ec))
      say(fmt::format("note: {} is missing (apt install libjs-d3): the pages show tables but no charts",
                      board::default_d3_path().string()));
    say("Ctrl-C stops the board.");
    server.serve(/*handle_signals=*/true);
    say("stopped");
#else
    no_page_server();
#endif
  });
}

}  // namespace dmgn::cli
