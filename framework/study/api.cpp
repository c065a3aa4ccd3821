#include "study/api.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <random>
#include <set>

#include "core/error.h"
#include "study/create.h"
#include "web/json.h"

namespace dmgn::study {

namespace fs = std::filesystem;
using json = nlohmann::json;

const std::string& page_html() {
  static const std::string page =
#include "study_page.inc"
      ;
  return page;
}

namespace {

using web::HttpError;
using web::json_response;

json parse_body(const Request& r) {
  json j;
  try {
    j = json::parse(r.body);
  } catch (const json::parse_error&) {
    throw HttpError{400, "the request body is not JSON"};
  }
  if (!j.is_object()) throw HttpError{400, "the request body must be a JSON object"};
  return j;
}

std::string string_field(const json& j, const char* key) {
  const auto it = j.find(key);
  if (it == j.end() || !it->is_string()) throw HttpError{400, fmt::format("'{}' must be a string", key)};
  return it->get<std::string>();
}

int64_t int_field(const json& j, const char* key) {
  const auto it = j.find(key);
  if (it == j.end() || !it->is_number_integer()) throw HttpError{400, fmt::format("'{}' must be an integer", key)};
  return it->get<int64_t>();
}

// A subject's name: trimmed, 1-64 characters, no control characters (it is shown back to them
// as text, never as markup).
std::string clean_name(std::string name) {
  const auto first = name.find_first_not_of(" \t");
  const auto last = name.find_last_not_of(" \t");
  name = first == std::string::npos ? "" : name.substr(first, last - first + 1);
  if (name.empty() || name.size() > 64) throw HttpError{400, "the name must have 1 to 64 characters"};
  for (unsigned char c : name)
    if (c < 0x20 || c == 0x7f) throw HttpError{400, "the name has a control character"};
  return name;
}

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

std::string letter(size_t i) { return std::string(1, static_cast<char>('A' + i)); }

}  // namespace

Api::Api(store::StudyStore& store, const std::string& study_name) : store_(store), study_(store.get(study_name)) {
  if (study_.methods.size() > 26)
    throw ConfigError(fmt::format("study '{}' has {} methods; the page labels at most 26", study_.name, study_.methods.size()));
  const fs::path dir = study_.dir;
  for (const auto& s : study_.samples) files_[s.input_file] = dir / s.input_file;
  for (const auto& im : study_.images) files_[im.file] = dir / im.file;
  for (const auto& [name, path] : files_)
    if (!fs::is_regular_file(path))
      throw IoError(fmt::format("study '{}': image '{}' is missing (the study folder moved? it was {})", study_.name,
                                path.string(), study_.dir));
}

std::vector<int64_t> Api::shown_order(const std::string& subject_key, int64_t sample) const {
  std::vector<int64_t> order(study_.methods.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int64_t>(i);
  std::mt19937_64 rng(fnv1a(fmt::format("{}|{}|{}", study_.token, subject_key, sample)));
  for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng() % i]);  // Fisher-Yates
  return order;
}

Response Api::handle(const Request& r) {
  try {
    if (r.path == "/" || r.path == "/index.html") {
      if (r.method != "GET") throw HttpError{405, "use GET"};
      Response page;
      page.content_type = "text/html; charset=utf-8";
      page.body = page_html();
      return page;
    }
    const bool api = r.path.rfind("/api/", 0) == 0, img = r.path.rfind("/img/", 0) == 0;
    if (!api && !img) throw HttpError{404, "no such page"};
    const auto t = r.query.find("t");
    if (t == r.query.end() || !web::same_secret(t->second, study_.token))
      throw HttpError{403, "this link's study token is missing or wrong: ask for the study's link"};
    if (img) {
      if (r.method != "GET") throw HttpError{405, "use GET"};
      return image(r.path.substr(5));
    }
    const std::string route = r.path.substr(5);
    const std::set<std::string> posts = {"join", "vote", "finish"}, gets = {"study", "sample"};
    if (!posts.count(route) && !gets.count(route)) throw HttpError{404, fmt::format("no API call '{}'", route)};
    if (posts.count(route) && r.method != "POST") throw HttpError{405, "use POST"};
    if (gets.count(route) && r.method != "GET") throw HttpError{405, "use GET"};
    if (route == "study") {
      json letters = json::array();
      for (size_t i = 0; i < study_.methods.size(); ++i) letters.push_back(letter(i));
      return json_response({{"samples", study_.samples.size()}, {"letters", letters}});
    }
    std::lock_guard<std::mutex> lock(mutex_);
    if (route == "join") return join(r);
    if (route == "sample") return sample(r);
    if (route == "vote") return vote(r);
    return finish(r);
  } catch (const HttpError& e) {
    return json_response({{"error", e.message}}, e.status);
  } catch (const std::exception& e) {  // the store failed: say so, store nothing more
    if (on_event) on_event(fmt::format("error on {} {}: {}", r.method, r.path, e.what()));
    return json_response({{"error", "the server could not complete this request; tell the study's organiser"}}, 500);
  }
}

Response Api::image(const std::string& file) const {
  const auto it = files_.find(file);
  if (it == files_.end()) throw HttpError{404, "no such image in this study"};
  Response r;
  r.content_type = "image/png";
  r.file = it->second;
  r.cacheable = true;
  return r;
}

namespace {

store::StudySubject subject_of(const store::StudyStore& store, int64_t study, const std::string& key) {
  const auto s = store.subject_by_key(study, key);
  if (!s) throw HttpError{403, "unknown subject: enter your name again"};
  return *s;
}

}  // namespace

Response Api::join(const Request& r) {
  const json body = parse_body(r);
  const std::string name = clean_name(string_field(body, "name"));
  const auto subject = store_.join(study_.id, name, web::random_hex(16));
  if (subject.finished())
    throw HttpError{409, "this name has already finished the study: thank you (another person: another name)"};
  json votes = json::object();
  for (const auto& v : store_.votes_of(subject.id)) {
    const auto order = shown_order(subject.key, v.sample);
    const auto pos = std::find(order.begin(), order.end(), v.method) - order.begin();
    votes[std::to_string(v.sample)] = letter(static_cast<size_t>(pos));
  }
  if (on_event) on_event(fmt::format("subject '{}' joined ({} of {} voted)", name, votes.size(), study_.samples.size()));
  return json_response({{"subject", subject.key}, {"name", subject.name}, {"samples", study_.samples.size()}, {"votes", votes}});
}

Response Api::sample(const Request& r) {
  const auto s = r.query.find("s");
  const auto i = r.query.find("i");
  if (s == r.query.end() || i == r.query.end()) throw HttpError{400, "give s (subject) and i (sample)"};
  const auto subject = subject_of(store_, study_.id, s->second);
  int64_t index = -1;
  try {
    size_t used = 0;
    index = std::stoll(i->second, &used);
    if (used != i->second.size()) index = -1;
  } catch (const std::exception&) {
    throw HttpError{400, "i must be an integer"};
  }
  if (index < 0 || index >= static_cast<int64_t>(study_.samples.size()))
    throw HttpError{404, fmt::format("no sample {} (the study has {})", i->second, study_.samples.size())};
  const auto order = shown_order(subject.key, index);
  json outputs = json::array();
  for (size_t k = 0; k < order.size(); ++k)
    outputs.push_back({{"letter", letter(k)}, {"image", study_.image(index, order[k]).file}});
  json vote = nullptr;
  const auto votes = store_.votes_of(subject.id);
  for (const auto& v : votes)
    if (v.sample == index) vote = letter(static_cast<size_t>(std::find(order.begin(), order.end(), v.method) - order.begin()));
  return json_response({{"index", index},
                        {"input", study_.samples[static_cast<size_t>(index)].input_file},
                        {"outputs", outputs},
                        {"vote", vote},
                        {"voted", votes.size()},
                        {"samples", study_.samples.size()}});
}

Response Api::vote(const Request& r) {
  const json body = parse_body(r);
  const auto subject = subject_of(store_, study_.id, string_field(body, "subject"));
  const int64_t index = int_field(body, "sample");
  const std::string choice = string_field(body, "choice");
  if (index < 0 || index >= static_cast<int64_t>(study_.samples.size()))
    throw HttpError{404, fmt::format("no sample {} (the study has {})", index, study_.samples.size())};
  if (choice.size() != 1 || choice[0] < 'A' || choice[0] >= 'A' + static_cast<int>(study_.methods.size()))
    throw HttpError{400, fmt::format("choice must be a letter from A to {}", letter(study_.methods.size() - 1))};
  if (subject.finished()) throw HttpError{409, "you have finished the study; votes are closed"};
  const auto order = shown_order(subject.key, index);
  const int64_t method = order[static_cast<size_t>(choice[0] - 'A')];
  store_.cast(study_.id, subject.id, index, method, fmt::format("{}", fmt::join(order, ",")));
  return json_response({{"vote", choice}, {"voted", store_.votes_of(subject.id).size()}, {"samples", study_.samples.size()}});
}

Response Api::finish(const Request& r) {
  const json body = parse_body(r);
  const auto subject = subject_of(store_, study_.id, string_field(body, "subject"));
  std::set<int64_t> missing;
  for (size_t i = 0; i < study_.samples.size(); ++i) missing.insert(static_cast<int64_t>(i));
  for (const auto& v : store_.votes_of(subject.id)) missing.erase(v.sample);
  if (!missing.empty()) {
    json m = json::array();
    for (auto x : missing) m.push_back(x);
    return json_response({{"error", fmt::format("{} sample(s) have no vote yet", missing.size())}, {"missing", m}}, 409);
  }
  if (!subject.finished()) {
    store_.finish(subject.id);
    if (on_event) on_event(fmt::format("subject '{}' finished", subject.name));
  }
  return json_response({{"finished", true}});
}

}  // namespace dmgn::study
