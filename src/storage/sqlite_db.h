// Internal to podnet_storage: a thin RAII layer over the SQLite C API (connections, cached prepared
// statements, transactions) that reports failures as StoreError values of kind kIo.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "storage/store.h"

namespace podnet::storage::sqlite {

// A prepared statement borrowed from a Connection's cache; reset on destruction so it never keeps
// a read snapshot (or the WAL) pinned after use.
class Stmt {
 public:
  explicit Stmt(sqlite3_stmt* stmt) : stmt_(stmt) {}
  Stmt(Stmt&& o) noexcept : stmt_(std::exchange(o.stmt_, nullptr)) {}
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  Stmt& operator=(Stmt&&) = delete;
  ~Stmt();

  void bind_int(int index, int64_t value);
  void bind_text(int index, std::string_view value);
  void bind_blob(int index, std::string_view value);
  void bind_null(int index);
  // true: a row is ready; false: done.
  StoreResult<bool> step();
  // Runs a statement that returns no rows.
  StoreStatus run();

  int64_t int_at(int column) const { return sqlite3_column_int64(stmt_, column); }
  bool null_at(int column) const { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }
  std::string text_at(int column) const;
  std::string blob_at(int column) const;

 private:
  sqlite3_stmt* stmt_;
};

class Connection {
 public:
  // Opens (creating if needed) the database file; each connection is used by one thread at a time.
  static StoreResult<std::unique_ptr<Connection>> open(const std::string& path, int busy_timeout_ms);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  StoreStatus exec(const std::string& sql);
  // The statement for `sql`, prepared once per connection and reused.
  StoreResult<Stmt> prepare(const std::string& sql);
  // An error from the connection's last failure, prefixed with what was being done.
  StoreError error(std::string_view doing) const;

 private:
  explicit Connection(sqlite3* db) : db_(db) {}
  sqlite3* db_;
  std::map<std::string, sqlite3_stmt*, std::less<>> cache_;
};

// BEGIN on construction, ROLLBACK on destruction unless committed.
class Transaction {
 public:
  // `immediate` takes the write lock up front (writers); readers get a snapshot at their first read.
  static StoreResult<Transaction> begin(Connection& conn, bool immediate);
  Transaction(Transaction&& o) noexcept : conn_(std::exchange(o.conn_, nullptr)) {}
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  Transaction& operator=(Transaction&&) = delete;
  ~Transaction();
  StoreStatus commit();

 private:
  explicit Transaction(Connection* conn) : conn_(conn) {}
  Connection* conn_;
};

}  // namespace podnet::storage::sqlite
