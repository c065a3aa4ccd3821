#pragma once
// `dmgn board`'s HTTP interface (web/http.h; web/server.h binds it to a socket), read-only over
// one store file, opened afresh (read-only) by every request. Routes, all GET; every one but "/"
// and "/d3.min.js" needs ?t=<token> (the token printed when the board starts):
//   /                   the page (framework/board/page.html)
//   /d3.min.js          the chart library (Debian's libjs-d3; the page works without it, no charts)
//   /api/runs           board::runs_view          /api/run?id=N        board::run_view
//   /api/curves?id=N    board::curves_view        /api/sweeps          board::sweeps_view
//   /api/sweep?name=S   board::sweep_view         /api/reports         board::reports_view
//   /api/report_table?id=N                        board::report_table
//   /img?run=N&k=K      the K-th of board::run_images(N): the browser names an index, never a file
// Errors are {"error": "..."}: 400 bad parameter, 403 token, 404 unknown route / run / sweep /
// report / image, 405 not GET, 500 the store could not be read.
#include <filesystem>
#include <string>

#include "web/http.h"

namespace dmgn::board {

// Where Debian's libjs-d3 puts d3 (DMGN_D3_JS overrides it).
std::filesystem::path default_d3_path();

class Api {
 public:
  Api(std::filesystem::path store, std::string token, std::filesystem::path d3 = default_d3_path());
  web::Response handle(const web::Request& request) const;
  const std::string& token() const { return token_; }

 private:
  std::filesystem::path store_, d3_;
  std::string token_;
};

const std::string& page_html();

}  // namespace dmgn::board
