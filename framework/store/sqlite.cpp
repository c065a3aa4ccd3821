#include "store/sqlite.h"

#include <fmt/format.h>
#include <sqlite3.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <optional>
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

namespace {

std::filesystem::path folder_of(const std::filesystem::path& file) {
  return file.parent_path().empty() ? std::filesystem::path(".") : file.parent_path();
}

// "file:/absolute/path" with what a URI must escape escaped (a relative "file:" URI would
// work too, but one starting with "//" would name a host).
std::string uri_of(const std::filesystem::path& file) {
  std::error_code ec;
  const auto abs = std::filesystem::absolute(file, ec);
  std::string uri = "file:";
  for (unsigned char c : (ec ? file : abs).string()) {
    if (c == '%' || c == '?' || c == '#')
      uri += fmt::format("%{:02X}", c);
    else
      uri += static_cast<char>(c);
  }
  return uri;
}

bool errno_no_space(int e) { return e == ENOSPC || e == EDQUOT; }

// Whether the device holding `dir` has no block (or no inode) left for us.
bool device_full(const std::filesystem::path& dir) {
  struct statvfs st {};
  return ::statvfs(dir.c_str(), &st) == 0 && (st.f_bavail == 0 || (st.f_files > 0 && st.f_favail == 0));
}

// A statement (or "step 'INSERT ...'") as an error names it: its first line, at most 60
// characters (a migration script or a long INSERT would otherwise fill the screen).
std::string statement_head(const std::string& sql) {
  const std::string head = sql.substr(0, std::min<size_t>(sql.find('\n'), 60));
  return head.size() < sql.size() ? head + "..." : head;
}

// A failed call on connection `db` (may be null) of `file` in words, where the cause is one a
// user can act on: a full device (SQLITE_FULL; an I/O error whose OS error is ENOSPC/EDQUOT,
// e.g. the -shm index could not be grown; a -wal or -shm that could not be created on a device
// with no block or inode left) or a read-only file, folder or mount (the SQLITE_READONLY family
// whatever statement hit it; EROFS; a read-write connection that SQLite could only open
// read-only, or whose folder cannot be written, failing to open its -wal). Else nullopt.
std::optional<std::string> worded_failure(const std::filesystem::path& file, sqlite3* db, bool read_only, int rc) {
  const int primary = rc & 0xff;
  const int os_error = db ? sqlite3_system_errno(db) : 0;
  const bool io = primary == SQLITE_IOERR || primary == SQLITE_CANTOPEN;
  const auto dir = folder_of(file);
  const auto no_space = [&] {
    return fmt::format("store {}: cannot {}: no space left on the device holding '{}' (SQLite code {})",
                       file.string(), read_only ? "read" : "write", dir.string(), rc);
  };
  if (primary == SQLITE_FULL || (io && errno_no_space(os_error))) return no_space();
  const bool refused = primary == SQLITE_READONLY || (io && os_error == EROFS) ||
                       (!read_only && primary == SQLITE_CANTOPEN &&
                        ((db && sqlite3_db_readonly(db, "main") == 1) || ::access(dir.c_str(), W_OK) != 0));
  if (refused)  // whatever statement hit it: the statement is not the news
    return fmt::format("store {}: cannot write: the file or its folder is read-only (SQLite code {})",
                       file.string(), rc);
  // SQLite retries a failed O_CREAT without it, so ENOSPC is often replaced by ENOENT.
  if (!read_only && primary == SQLITE_CANTOPEN && device_full(dir)) return no_space();
  return std::nullopt;
}

// The message of a failed call `what`: worded_failure's, else SQLite's own words.
std::string failure_text(const std::filesystem::path& file, sqlite3* db, bool read_only, const std::string& what,
                         int rc, const std::string& msg) {
  if (auto worded = worded_failure(file, db, read_only, rc)) return *worded;
  return fmt::format("store {}: {} failed: {} (SQLite code {})", file.string(), what, msg, rc);
}

// The failures of a read-only connection's first read that come from a WAL store's -wal or
// -shm files: they cannot be opened or created (read-only folder or mount), the -shm cannot be
// grown (full device: SQLITE_IOERR_SHMSIZE, 4874), or it is there but cannot be written.
bool wal_index_trouble(int rc, int os_error) {
  const int primary = rc & 0xff;
  return primary == SQLITE_CANTOPEN || primary == SQLITE_READONLY || primary == SQLITE_FULL ||
         rc == SQLITE_IOERR_SHMOPEN || rc == SQLITE_IOERR_SHMSIZE || rc == SQLITE_IOERR_SHMMAP ||
         rc == SQLITE_IOERR_SHMLOCK ||
         (primary == SQLITE_IOERR && (errno_no_space(os_error) || os_error == EROFS || os_error == EACCES));
}

uint32_t big_endian(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

// Whether the -wal file `wal` may hold a frame SQLite would read: a valid header, room for one
// frame, and a first frame carrying the header's salts (SQLite's recovery stops at the first
// frame that does not). Absent, short, not a WAL, or stale: false. There but unreadable: true.
bool wal_has_frames(const std::filesystem::path& wal) {
  std::error_code ec;
  if (!std::filesystem::exists(wal, ec)) return false;
  std::ifstream in(wal, std::ios::binary);
  if (!in) return true;  // cannot tell: assume it matters
  constexpr size_t kHeader = 32, kFrameHeader = 24;
  unsigned char h[kHeader + kFrameHeader];
  if (!in.read(reinterpret_cast<char*>(h), sizeof h)) return false;
  if ((big_endian(h) & 0xFFFFFFFEu) != 0x377f0682u) return false;
  uint32_t page = big_endian(h + 8);
  if (page == 1) page = 65536;
  if (page < 512 || page > 65536 || (page & (page - 1)) != 0) return false;
  const auto size = std::filesystem::file_size(wal, ec);
  if (ec) return true;
  if (size < kHeader + kFrameHeader + page) return false;
  return std::memcmp(h + 16, h + kHeader + 8, 8) == 0;
}

}  // namespace

void Db::Closer::operator()(sqlite3* db) const { sqlite3_close_v2(db); }

void Db::open(const std::string& name, int flags, int busy_timeout_ms) {
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(name.c_str(), &raw, flags, nullptr);
  db_.reset(raw);  // closed even when opening failed
  if (rc != SQLITE_OK) {
    const std::string msg = raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc);
    if (!read_only_)  // e.g. a store that cannot be created: read-only folder, full device
      if (auto worded = worded_failure(file_, raw, read_only_, rc)) throw StoreError(*worded);
    throw StoreError(fmt::format("store {}: cannot open{}: {}", file_.string(),
                                 (flags & SQLITE_OPEN_READONLY) ? " for reading" : "", msg));
  }
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, busy_timeout_ms);
}

Db::Db(const std::filesystem::path& file, int busy_timeout_ms) : file_(file) {
  open(file.string(), SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, busy_timeout_ms);
}

Db Db::read_only(const std::filesystem::path& file, int busy_timeout_ms) {
  int first_rc = SQLITE_OK, first_os_error = 0;
  std::string first_msg;
  // Opens with these URI parameters and reads the schema; nullopt (the first failure kept)
  // when that fails. Opening itself failing is no -wal/-shm matter: it is thrown at once.
  const auto attempt = [&](const std::string& params) -> std::optional<Db> {
    Db db;
    db.file_ = file;
    db.read_only_ = true;
    db.open(uri_of(file) + "?mode=ro" + params, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, busy_timeout_ms);
    int rc = SQLITE_OK;
    retry_loop(file, [&] {
      rc = sqlite3_exec(db.handle(), "SELECT count(*) FROM sqlite_master", nullptr, nullptr, nullptr);
      if (is_busy(rc)) db.fail(rc, "read its schema");
    });
    if (rc == SQLITE_OK) return db;
    if (first_rc == SQLITE_OK) {
      first_rc = rc;
      first_os_error = sqlite3_system_errno(db.handle());
      first_msg = sqlite3_errmsg(db.handle());
    }
    return std::nullopt;
  };
  if (auto db = attempt("")) return std::move(*db);
  const auto first_failure = [&] {
    return StoreError(fmt::format("store {}: cannot read: {} (SQLite code {})", file.string(), first_msg, first_rc));
  };
  if (!wal_index_trouble(first_rc, first_os_error)) throw first_failure();

  const std::filesystem::path wal = file.string() + "-wal", shm = file.string() + "-shm";
  std::error_code ec;
  const bool has_shm = std::filesystem::exists(shm, ec);
  if (has_shm)
    if (auto db = attempt("&readonly_shm=1")) return std::move(*db);
  if (!wal_has_frames(wal)) {
    if (auto db = attempt("&immutable=1")) return std::move(*db);
    throw first_failure();
  }
  // Changes in the -wal that cannot be read here: never the older contents as if they were all.
  const auto dir = folder_of(file);
  const std::string reason = ::access(dir.c_str(), W_OK) != 0 ? "the folder is read-only"
                             : device_full(dir)               ? "the device is full"
                                                              : first_msg;
  const std::string why =
      has_shm ? fmt::format("its index {} cannot be used ({})", shm.filename().string(), reason)
              : fmt::format("no index for it ({}) can be created beside it ({})", shm.filename().string(), reason);
  throw StoreError(fmt::format("store {}: cannot read the changes in its write-ahead log {}: {}; open it once where "
                               "it can be written, or copy it with its -wal to a folder that can",
                               file.string(), wal.string(), why));
}

Db::~Db() = default;

void Db::fail(int rc, const std::string& what) const {
  const std::string msg = db_ ? sqlite3_errmsg(db_.get()) : sqlite3_errstr(rc);
  const std::string text = failure_text(file_, db_.get(), read_only_, statement_head(what), rc, msg);
  if (is_busy(rc)) throw Busy(text);
  throw StoreError(text);
}

void Db::exec(const std::string& sql) const {
  char* err = nullptr;
  const int rc = sqlite3_exec(db_.get(), sql.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    const std::string msg = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    const std::string text =
        failure_text(file_, db_.get(), read_only_, fmt::format("'{}'", statement_head(sql)), rc, msg);
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
