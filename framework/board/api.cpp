#include "board/api.h"

#include <fmt/format.h>

#include <cstdlib>
#include <stdexcept>

#include "board/views.h"
#include "store/run_store.h"
#include "store/study_store.h"
#include "web/json.h"

namespace dmgn::board {

namespace fs = std::filesystem;

const std::string& page_html() {
  static const std::string page =
#include "board_page.inc"
      ;
  return page;
}

fs::path default_d3_path() {
  if (const char* env = std::getenv("DMGN_D3_JS"); env && *env) return env;
  return "/usr/share/javascript/d3/d3.min.js";
}

namespace {

using web::HttpError;
using web::json_response;

const std::string& param(const web::Request& r, const char* key) {
  const auto it = r.query.find(key);
  if (it == r.query.end() || it->second.empty()) throw HttpError{400, fmt::format("give {}", key)};
  return it->second;
}

int64_t int_param(const web::Request& r, const char* key) {
  const std::string& text = param(r, key);
  try {
    size_t used = 0;
    const long long v = std::stoll(text, &used);
    if (used == text.size() && v >= 0) return v;
  } catch (const std::exception&) {
  }
  throw HttpError{400, fmt::format("{} must be a whole number", key)};
}

}  // namespace

Api::Api(fs::path store, std::string token, fs::path d3)
    : store_(std::move(store)), d3_(std::move(d3)), token_(std::move(token)) {}

web::Response Api::handle(const web::Request& r) const {
  try {
    if (r.method != "GET") throw HttpError{405, "the board only reads: use GET"};
    if (r.path == "/") {
      web::Response page;
      page.content_type = "text/html; charset=utf-8";
      page.body = page_html();
      return page;
    }
    if (r.path == "/d3.min.js") {
      web::Response js;
      std::error_code ec;
      if (!fs::is_regular_file(d3_, ec)) throw HttpError{404, "d3 is not installed (apt install libjs-d3)"};
      js.file = d3_;
      js.content_type = "application/javascript";
      js.cacheable = true;
      return js;
    }
    const bool api = r.path.rfind("/api/", 0) == 0;
    if (!api && r.path != "/img") throw HttpError{404, "no such page"};
    const auto t = r.query.find("t");
    if (t == r.query.end() || !web::same_secret(t->second, token_))
      throw HttpError{403, "this link's board token is missing or wrong: open the link `dmgn board` printed"};

    const store::RunStore store(store_, store::RunStore::Access::read_only);
    const std::string route = api ? r.path.substr(5) : "img";
    if (route == "runs") return json_response(runs_view(store));
    if (route == "run") return json_response(run_view(store, int_param(r, "id")));
    if (route == "curves") return json_response(curves_view(store, int_param(r, "id")));
    if (route == "sweeps") return json_response(sweeps_view(store));
    if (route == "sweep") return json_response(sweep_view(store, param(r, "name")));
    if (route == "reports") {
      const store::StudyStore studies(store_, store::StudyStore::Access::read_only);
      return json_response(reports_view(store, studies));
    }
    if (route == "report_table") return json_response(report_table(store, int_param(r, "id")));
    if (route == "img") {
      const int64_t run = int_param(r, "run");
      const auto k = static_cast<size_t>(int_param(r, "k"));
      const auto images = run_images(store, run);
      if (k >= images.size()) throw HttpError{404, fmt::format("run {} has no image {}", run, k)};
      web::Response img;
      img.file = images[k].file;
      const auto ext = images[k].file.extension().string();
      img.content_type = ext == ".jpg" || ext == ".jpeg" ? "image/jpeg"
                         : ext == ".png"                  ? "image/png"
                                                          : "application/octet-stream";
      return img;
    }
    throw HttpError{404, fmt::format("no API call '{}'", route)};
  } catch (const HttpError& e) {
    return json_response({{"error", e.message}}, e.status);
  } catch (const std::out_of_range& e) {
    return json_response({{"error", e.what()}}, 404);
  } catch (const std::exception& e) {
    return json_response({{"error", fmt::format("the store could not be read: {}", e.what())}}, 500);
  }
}

}  // namespace dmgn::board
