#include "store/sqlite.h"

#include <fmt/format.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <random>
#include <thread>

namespace dmgn::store::sqlite {

namespace {

// Contention policy: each attempt already waits up to the busy timeout inside SQLite; on
// top of that we back off (5 ms doubling to 1 s, with jitter so writers de-synchronise)
// until this much wall time has passed.
constexpr auto kRetryBudget = std::chrono::seconds(300);
constexpr auto kFirstBackoff = std::chrono::milliseconds(5);
constexpr auto kMaxBackoff = std::chrono::milliseconds(1000);

bool is_busy(int rc) {
  const int primary = rc & 0xff;
  return primary == SQLITE_BUSY || primary == SQLITE_LOCKED;
}

void retry_loop(const std::filesystem::path& file, const std::function<void()>& attempt) {
  const auto start = std::chrono::steady_clock::now();
  std::mt19937 jitter(std::random_device{}());
  std::uniform_real_distribution<double> factor(0.5, 1.5);
  auto backoff = std::chrono::duration<double, std::milli>(kFirstBackoff);
  for (int tries = 1;; ++tries) {
    try {
      attempt();
      return;
    } catch (const Busy& e) {
      const auto elapsed = std::chrono::steady_clock::now() - start;
      if (elapsed > kRetryBudget)
        throw StoreError(fmt::format(
            "store {}: still locked by another writer after {} attempts over {} s ({})",
            file.string(), tries, std::chrono::duration_cast<std::chrono::seconds>(elapsed).count(),
            e.what()));
      std::this_thread::sleep_for(backoff * factor(jitter));
      backoff = std::min<std::chrono::duration<double, std::milli>>(backoff * 2, kMaxBackoff);
    }
  }
}

}  // namespace

// ---- Stmt -------------------------------------------------------------------------------

Stmt::Stmt(const Db& db, const std::string& sql) : db_(&db), sql_(sql) {
  const int rc = sqlite3_prepare_v2(db.handle(), sql.c_str(), -1, &stmt_, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(stmt_);
    stmt_ = nullptr;
    db.fail(rc, "prepare '" + sql + "'");
  }
}

Stmt::Stmt(Stmt&& o) noexcept : db_(o.db_), stmt_(o.stmt_), sql_(std::move(o.sql_)) {
  o.stmt_ = nullptr;
}

Stmt& Stmt::operator=(Stmt&& o) noexcept {
  if (this != &o) {
    sqlite3_finalize(stmt_);
    db_ = o.db_;
    stmt_ = o.stmt_;
    sql_ = std::move(o.sql_);
    o.stmt_ = nullptr;
  }
  return *this;
}

Stmt::~Stmt() { sqlite3_finalize(stmt_); }

Stmt& Stmt::bind(int index, int64_t value) {
  const int rc = sqlite3_bind_int64(stmt_, index, value);
  if (rc != SQLITE_OK) db_->fail(rc, "bind in '" + sql_ + "'");
  return *this;
}

Stmt& Stmt::bind(int index, double value) {
  if (std::isnan(value)) return bind_null(index);
  const int rc = sqlite3_bind_double(stmt_, index, value);
  if (rc != SQLITE_OK) db_->fail(rc, "bind in '" + sql_ + "'");
  return *this;
}

Stmt& Stmt::bind(int index, const std::string& value) {
  const int rc = sqlite3_bind_text(stmt_, index, value.data(), static_cast<int>(value.size()),
                                   SQLITE_TRANSIENT);
  if (rc != SQLITE_OK) db_->fail(rc, "bind in '" + sql_ + "'");
  return *this;
}

Stmt& Stmt::bind_null(int index) {
  const int rc = sqlite3_bind_null(stmt_, index);
  if (rc != SQLITE_OK) db_->fail(rc, "bind in '" + sql_ + "'");
  return *this;
}

bool Stmt::step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  sqlite3_reset(stmt_);
  db_->fail(rc, "run '" + sql_ + "'");
}

void Stmt::run() {
  while (step()) {
  }
}

void Stmt::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

bool Stmt::is_null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }

int64_t Stmt::i64(int col) const { return sqlite3_column_int64(stmt_, col); }

double Stmt::real(int col) const {
  if (is_null(col)) return std::numeric_limits<double>::quiet_NaN();
  return sqlite3_column_double(stmt_, col);
}

std::string Stmt::text(int col) const {
  const auto* p = sqlite3_column_text(stmt_, col);
  if (!p) return {};
  return std::string(reinterpret_cast<const char*>(p),
                     static_cast<size_t>(sqlite3_column_bytes(stmt_, col)));
}

// ---- Db ---------------------------------------------------------------------------------

void Db::Closer::operator()(sqlite3* db) const { sqlite3_close_v2(db); }

void Db::open(const std::string& name, int flags, int busy_timeout_ms) {
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(name.c_str(), &raw, flags, nullptr);
  db_.reset(raw);  // closed even when opening failed
  if (rc != SQLITE_OK) {
    const std::string msg = raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc);
    throw StoreError(fmt::format("store {}: cannot open{}: {}", file_.string(),
                                 (flags & SQLITE_OPEN_READONLY) ? " for reading" : "", msg));
  }
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, busy_timeout_ms);
}

Db::Db(const std::filesystem::path& file, int busy_timeout_ms) : file_(file) {
  open(file.string(), SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, busy_timeout_ms);
}

Db Db::read_only(const std::filesystem::path& file, int busy_timeout_ms, bool immutable) {
  Db db;
  db.file_ = file;
  // A URI so that "immutable" can be asked for; the path is percent-escaped where it must be.
  std::string uri = "file:";
  for (unsigned char c : file.string()) {
    if (c == '%' || c == '?' || c == '#')
      uri += fmt::format("%{:02X}", c);
    else
      uri += static_cast<char>(c);
  }
  uri += immutable ? "?mode=ro&immutable=1" : "?mode=ro";
  db.open(uri, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, busy_timeout_ms);
  return db;
}

Db::~Db() = default;

namespace {

// A statement (or "step 'INSERT ...'") as an error names it: its first line, at most 60
// characters (a migration script or a long INSERT would otherwise fill the screen).
std::string statement_head(const std::string& sql) {
  const std::string head = sql.substr(0, std::min<size_t>(sql.find('\n'), 60));
  return head.size() < sql.size() ? head + "..." : head;
}

// The message of a failed call: "cannot write: the store or its folder is read-only" for the
// SQLITE_READONLY family (whatever statement hit it), SQLite's own words otherwise.
std::string failure_text(const std::filesystem::path& file, const std::string& what, int rc, const std::string& msg) {
  if ((rc & 0xff) == SQLITE_READONLY)  // whatever statement hit it: the statement is not the news
    return fmt::format("store {}: cannot write: the file or its folder is read-only (SQLite code {})",
                       file.string(), rc);
  return fmt::format("store {}: {} failed: {} (SQLite code {})", file.string(), what, msg, rc);
}

}  // namespace

void Db::fail(int rc, const std::string& what) const {
  const std::string msg = db_ ? sqlite3_errmsg(db_.get()) : sqlite3_errstr(rc);
  const std::string text = failure_text(file_, statement_head(what), rc, msg);
  if (is_busy(rc)) throw Busy(text);
  throw StoreError(text);
}

void Db::exec(const std::string& sql) const {
  char* err = nullptr;
  const int rc = sqlite3_exec(db_.get(), sql.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    const std::string msg = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    const std::string text = failure_text(file_, fmt::format("'{}'", statement_head(sql)), rc, msg);
    if (is_busy(rc)) throw Busy(text);
    throw StoreError(text);
  }
}

int64_t Db::last_insert_id() const { return sqlite3_last_insert_rowid(db_.get()); }

int Db::changes() const { return sqlite3_changes(db_.get()); }

namespace {
void in_transaction(const Db& db, const char* begin, const std::function<void()>& body) {
  db.exec(begin);
  try {
    body();
    db.exec("COMMIT");
  } catch (...) {
    if (!sqlite3_get_autocommit(db.handle()))
      sqlite3_exec(db.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}
}  // namespace

void Db::write(const std::function<void()>& body) const {
  retry_loop(file_, [&] { in_transaction(*this, "BEGIN IMMEDIATE", body); });
}

void Db::read(const std::function<void()>& body) const {
  retry_loop(file_, [&] { in_transaction(*this, "BEGIN", body); });
}

void Db::retry(const std::function<void()>& body) const { retry_loop(file_, body); }

}  // namespace dmgn::store::sqlite
