// Internal to podnet_storage: the state the SQLite store shares with its watches, which may outlive
// it — the reader connection pool, the event hub, the committed and compacted revisions.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

#include "storage/sqlite_db.h"
#include "storage/sqlite_store.h"
#include "storage/watch_hub.h"

namespace podnet::storage::sqlite {

// Read-only connections handed out one per read; WAL lets them read while the writer commits.
class ReaderPool {
 public:
  ReaderPool(std::string path, int busy_timeout_ms, size_t max_idle)
      : path_(std::move(path)), busy_timeout_ms_(busy_timeout_ms), max_idle_(max_idle) {}

  class Lease {
   public:
    Lease(ReaderPool* pool, std::unique_ptr<Connection> conn) : pool_(pool), conn_(std::move(conn)) {}
    Lease(Lease&&) = default;
    Lease& operator=(Lease&&) = delete;
    ~Lease() {
      if (conn_) pool_->give_back(std::move(conn_));
    }
    Connection& operator*() { return *conn_; }
    Connection* operator->() { return conn_.get(); }

   private:
    ReaderPool* pool_;
    std::unique_ptr<Connection> conn_;
  };

  StoreResult<Lease> acquire();

 private:
  void give_back(std::unique_ptr<Connection> conn);

  const std::string path_;
  const int busy_timeout_ms_;
  const size_t max_idle_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Connection>> idle_;
};

struct SqliteShared {
  explicit SqliteShared(const SqliteOptions& opts)
      : options(opts), readers(opts.path, opts.busy_timeout_ms, opts.idle_readers) {}

  const SqliteOptions options;
  ReaderPool readers;
  WatchHub hub;
  std::atomic<Revision> revision{0};          // last committed (and published) revision
  std::atomic<Revision> compact_revision{0};  // a cache for fast checks; reads re-check in their snapshot
  std::atomic<bool> closed{false};
};

}  // namespace podnet::storage::sqlite
