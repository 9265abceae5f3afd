// The embedded storage backend: Store on one SQLite file in WAL mode, a kine-style revision log.
// One writer connection with group commit, a pool of reader connections, watches fed in-process.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "common/fd.h"
#include "storage/store.h"

namespace podnet::storage {

namespace sqlite {
class GroupCommitWriter;
struct SqliteShared;
}  // namespace sqlite

// What an acknowledged write survives. Both keep the database consistent in every case.
enum class Durability {
  // synchronous=NORMAL in WAL mode: a commit is written to the WAL (the kernel's page cache) before it
  // is acknowledged, so it survives the process being killed (kill -9, crash, OOM), but a power loss
  // or kernel crash may lose the last acknowledged commits.
  kProcessCrash,
  // synchronous=FULL: the WAL is also fsync'ed before the acknowledgement (once per group commit
  // batch), so acknowledged writes survive power loss too, as with etcd.
  kPowerLoss,
};

struct SqliteOptions {
  std::string path;  // the database file; "<path>-wal", "<path>-shm" and "<path>.lock" sit beside it
  Durability durability = Durability::kPowerLoss;
  int busy_timeout_ms = 5000;
  size_t max_batch = 1024;           // writes per group commit transaction
  size_t watch_queue_limit = 10000;  // events a watch may lag behind before it re-reads storage
  size_t watch_replay_page = 1000;   // events per storage read when a watch replays history
  size_t idle_readers = 8;           // reader connections kept open between reads
  Revision compact_chunk = 10000;    // revisions compacted per write transaction
};

class SqliteStore final : public Store {
 public:
  // Opens or creates the database. Fails with kIo if another process has it open.
  static StoreResult<std::unique_ptr<SqliteStore>> open(SqliteOptions options);
  // Closes every watch (their next() returns kClosed).
  ~SqliteStore() override;

  StoreResult<KeyValue> create(std::string_view key, std::string_view value) override;
  StoreResult<KeyValue> update(std::string_view key, std::string_view value,
                               Revision expected_mod_revision) override;
  StoreResult<Removed> remove(std::string_view key, Revision expected_mod_revision = 0) override;
  StoreResult<KeyValue> get(std::string_view key, Revision revision = 0) override;
  StoreResult<ListResult> list(std::string_view prefix, const ListOptions& options = {}) override;
  StoreResult<std::unique_ptr<Watch>> watch(std::string_view prefix, Revision from_revision) override;
  StoreStatus compact(Revision revision) override;
  Revision current_revision() const override;
  Revision compacted_revision() const override;

 private:
  SqliteStore(UniqueFd lock, std::shared_ptr<sqlite::SqliteShared> shared,
              std::unique_ptr<sqlite::GroupCommitWriter> writer);

  UniqueFd lock_;  // flock'ed: one process owns the database (revisions are assigned in memory)
  std::shared_ptr<sqlite::SqliteShared> shared_;  // also held by watches, which may outlive the store
  std::unique_ptr<sqlite::GroupCommitWriter> writer_;
};

}  // namespace podnet::storage
