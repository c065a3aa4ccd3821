#pragma once
// Thin RAII layer over one SQLite connection, private to the store.
// Every failure throws StoreError naming the file and the SQLite message, or, for a read-only
// file or folder and a full device, saying so in words. Lock contention
// (SQLITE_BUSY / SQLITE_LOCKED) throws sqlite::Busy instead, which write()/read() catch and
// retry with exponential backoff, so "database is locked" never reaches a user. A write()
// body runs inside BEGIN IMMEDIATE ... COMMIT and may be re-run from scratch after a
// rollback: it must have no effects outside the database. Not thread-safe: one per thread.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "core/error.h"

struct sqlite3;
struct sqlite3_stmt;

namespace dmgn::store::sqlite {

struct Busy : StoreError {  // lock contention; retried by Db::write / Db::read
  using StoreError::StoreError;
};

class Db;

// A prepared statement; bind indices start at 1, column indices at 0.
class Stmt {
 public:
  Stmt(const Db& db, const std::string& sql);
  Stmt(Stmt&&) noexcept;
  Stmt& operator=(Stmt&&) noexcept;
  ~Stmt();

  Stmt& bind(int index, int64_t value);
  Stmt& bind(int index, double value);  // NaN is stored as NULL (SQLite has no NaN)
  Stmt& bind(int index, const std::string& value);
  Stmt& bind_null(int index);
  bool step();  // true while a row is available; false when done
  void run();   // step to completion, ignoring rows
  void reset();

  bool is_null(int col) const;
  int64_t i64(int col) const;
  double real(int col) const;  // NULL reads back as NaN
  std::string text(int col) const;

 private:
  const Db* db_;
  sqlite3_stmt* stmt_ = nullptr;
  std::string sql_;
};

class Db {
 public:
  // Opens (creating if needed) and sets a busy timeout; the parent folder must exist.
  Db(const std::filesystem::path& file, int busy_timeout_ms);
  // Opens an existing file for reading only (SQLITE_OPEN_READONLY, nothing changed) and reads
  // its schema, where trouble with a WAL store's -wal and -shm files shows (SQLite opens them at
  // the first read, not at open). A WAL store needs its -shm (the WAL index) to be read; where
  // that cannot be made (a read-only folder or mount, a full device), it falls back to:
  //  1. `readonly_shm=1` when the -shm exists: SQLite (>= 3.22) uses it read-only, or, when no
  //     writer holds it, rebuilds the index from the -wal in its own memory;
  //  2. `immutable=1` when the -wal is absent or holds no frame: no locks, no -wal or -shm; it
  //     would ignore a -wal's content, so it is never used when there is some, and it assumes
  //     nobody writes the file meanwhile (nobody can where the -shm cannot be made).
  // A -wal holding changes that cannot be read here is one StoreError naming it and why.
  static Db read_only(const std::filesystem::path& file, int busy_timeout_ms);
  Db(Db&&) noexcept = default;
  Db& operator=(Db&&) noexcept = default;
  ~Db();

  const std::filesystem::path& file() const { return file_; }
  sqlite3* handle() const { return db_.get(); }

  void exec(const std::string& sql) const;  // one or more statements, no results
  int64_t last_insert_id() const;
  int changes() const;

  // Runs body in a write transaction (BEGIN IMMEDIATE), retrying on contention.
  void write(const std::function<void()>& body) const;
  // Runs body (reads only) in a read transaction, so several queries see one snapshot;
  // retries on contention.
  void read(const std::function<void()>& body) const;
  // Retries body on contention without adding a transaction (setup pragmas etc.).
  void retry(const std::function<void()>& body) const;

  // Throws Busy or StoreError for a failed SQLite call `what`.
  [[noreturn]] void fail(int rc, const std::string& what) const;

 private:
  struct Closer {
    void operator()(sqlite3* db) const;
  };
  Db() = default;
  // sqlite3_open_v2(name, flags) with extended result codes and the busy timeout; StoreError.
  void open(const std::string& name, int flags, int busy_timeout_ms);
  std::filesystem::path file_;
  bool read_only_ = false;  // opened by read_only()
  std::unique_ptr<sqlite3, Closer> db_;
};

}  // namespace dmgn::store::sqlite
