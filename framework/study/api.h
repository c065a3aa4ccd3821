#pragma once
// The study's HTTP interface (web/http.h; web/server.h binds it to a socket), testable without
// one. Routes (every one but "/" needs ?t=<token>):
//   GET  /                 the page (framework/study/page.html)
//   GET  /api/study        {samples, letters}
//   POST /api/join         {"name"} -> {subject, name, samples, votes{sample: letter}}; a
//                          returning name resumes its votes; a finished subject gets 409
//   GET  /api/sample       ?s=<subject>&i=<sample> -> {index, input, outputs[{letter, image}],
//                          vote, voted, samples}: image file names, methods in the subject's order
//   POST /api/vote         {"subject", "sample", "choice": "A".."Z"} -> {vote, voted, samples}
//   POST /api/finish       {"subject"} -> {finished}; 409 naming the samples still without a vote
//   GET  /img/<file>       a file of the study (only the names its images table holds)
// Method names and positions never leave the server: the browser sees letters, and the order
// behind them is a permutation drawn per (subject, sample) from the study token, the subject's
// key and the sample, the same on every request. Errors are 4xx with {"error": "..."} and
// change nothing; a vote is stored when it is cast (a changed vote replaces the first).
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "store/study_store.h"
#include "web/http.h"

namespace dmgn::study {

using Request = web::Request;
using Response = web::Response;

class Api {
 public:
  // The store must be this process's own (the Api serialises access to it).
  Api(store::StudyStore& store, const std::string& study_name);
  Response handle(const Request& request);

  const store::Study& study() const { return study_; }
  // The method positions shown to `subject_key` on `sample`, left to right (A, B, ...).
  std::vector<int64_t> shown_order(const std::string& subject_key, int64_t sample) const;
  // One line per join and finish (the serve command prints them); empty by default.
  std::function<void(const std::string&)> on_event;

 private:
  Response join(const Request& r);
  Response sample(const Request& r);
  Response vote(const Request& r);
  Response finish(const Request& r);
  Response image(const std::string& file) const;

  store::StudyStore& store_;
  store::Study study_;
  std::map<std::string, std::filesystem::path> files_;  // file name -> path: what /img serves
  std::mutex mutex_;
};

// The page served at "/".
const std::string& page_html();

}  // namespace dmgn::study
