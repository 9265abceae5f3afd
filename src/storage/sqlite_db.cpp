// RAII over the SQLite C API: every failure becomes a kIo StoreError naming the operation and
// SQLite's message, so callers never look at raw result codes.
#include "storage/sqlite_db.h"

#include <utility>

namespace podnet::storage::sqlite {

Stmt::~Stmt() {
  if (!stmt_) return;
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

void Stmt::bind_int(int index, int64_t value) {
  sqlite3_bind_int64(stmt_, index, value);
}
// SQLITE_TRANSIENT: SQLite copies the bytes, so callers may bind temporaries; a copy is noise next to
// the statement itself.
void Stmt::bind_text(int index, std::string_view value) {
  sqlite3_bind_text64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
}
void Stmt::bind_blob(int index, std::string_view value) {
  // A zero-length blob still has to be a BLOB (not NULL): pass a valid pointer.
  sqlite3_bind_blob64(stmt_, index, value.empty() ? "" : value.data(), value.size(), SQLITE_TRANSIENT);
}
void Stmt::bind_null(int index) {
  sqlite3_bind_null(stmt_, index);
}

StoreResult<bool> Stmt::step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  sqlite3* db = sqlite3_db_handle(stmt_);
  return store_fail(Errc::kIo, std::string("sqlite step \"") + sqlite3_sql(stmt_) +
                                   "\": " + sqlite3_errmsg(db) + " (" + std::to_string(rc) + ")");
}

StoreStatus Stmt::run() {
  auto r = step();
  if (!r) return std::unexpected(std::move(r.error()));
  return {};
}

std::string Stmt::text_at(int column) const {
  auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
  return p ? std::string(p, sqlite3_column_bytes(stmt_, column)) : std::string();
}

std::string Stmt::blob_at(int column) const {
  auto* p = static_cast<const char*>(sqlite3_column_blob(stmt_, column));
  return p ? std::string(p, sqlite3_column_bytes(stmt_, column)) : std::string();
}

StoreResult<std::unique_ptr<Connection>> Connection::open(const std::string& path, int busy_timeout_ms) {
  sqlite3* db = nullptr;
  // NOMUTEX: each connection is confined to one thread at a time by its owner, so SQLite's own
  // per-connection mutex would be pure overhead.
  int rc = sqlite3_open_v2(path.c_str(), &db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = "open " + path + ": " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    sqlite3_close(db);
    return store_fail(Errc::kIo, std::move(msg));
  }
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, busy_timeout_ms);
  return std::unique_ptr<Connection>(new Connection(db));
}

Connection::~Connection() {
  for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
  sqlite3_close(db_);
}

StoreError Connection::error(std::string_view doing) const {
  return StoreError{Errc::kIo, std::string(doing) + ": " + sqlite3_errmsg(db_) + " (" +
                                   std::to_string(sqlite3_extended_errcode(db_)) + ")"};
}

StoreStatus Connection::exec(const std::string& sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
  if (rc == SQLITE_OK) return {};
  std::string msg = "sqlite \"" + sql + "\": " + (err ? err : sqlite3_errstr(rc));
  sqlite3_free(err);
  return store_fail(Errc::kIo, std::move(msg));
}

StoreResult<Stmt> Connection::prepare(const std::string& sql) {
  auto it = cache_.find(sql);
  if (it == cache_.end()) {
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                                &stmt, nullptr);
    if (rc != SQLITE_OK) return std::unexpected(error("prepare \"" + sql + "\""));
    it = cache_.emplace(sql, stmt).first;
  }
  return Stmt(it->second);
}

StoreResult<Transaction> Transaction::begin(Connection& conn, bool immediate) {
  auto r = conn.exec(immediate ? "BEGIN IMMEDIATE" : "BEGIN");
  if (!r) return std::unexpected(std::move(r.error()));
  return Transaction(&conn);
}

Transaction::~Transaction() {
  if (conn_) (void)conn_->exec("ROLLBACK");
}

StoreStatus Transaction::commit() {
  auto r = conn_->exec("COMMIT");
  // A failed COMMIT leaves the transaction open in SQLite: the destructor rolls it back.
  if (r) conn_ = nullptr;
  return r;
}

}  // namespace podnet::storage::sqlite
