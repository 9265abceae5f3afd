// Internal to podnet_storage: the single SQLite writer. Concurrent writes queue up; the first in line
// commits everything queued as one transaction (group commit) and publishes the events, in order.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string_view>

#include "storage/sqlite_db.h"
#include "storage/store.h"
#include "storage/watch_hub.h"

namespace podnet::storage::sqlite {

struct WriteOp {
  enum class Kind { kCreate, kUpdate, kRemove };
  Kind kind = Kind::kCreate;
  std::string_view key;
  std::string_view value;
  Revision expected_mod_revision = 0;  // update/remove: 0 for unconditional
};

class GroupCommitWriter {
 public:
  // `revision` is the last committed revision; `published` is advanced after each commit.
  GroupCommitWriter(std::unique_ptr<Connection> conn, Revision revision, size_t max_batch, WatchHub& hub,
                    std::atomic<Revision>& published);

  // Applies one write and returns its event (its revision is the write's), once committed.
  StoreResult<EventPtr> write(const WriteOp& op);
  // Runs `fn` in its own write transaction between two batches (compaction). It must not write to
  // the log: revisions are assigned here.
  StoreStatus run_exclusive(const std::function<StoreStatus(Connection&)>& fn);

 private:
  struct Pending {
    const WriteOp* op;
    StoreResult<EventPtr> result;
    bool done = false;
    std::condition_variable cv;
  };
  void commit_batch(const std::vector<Pending*>& batch);
  StoreResult<EventPtr> apply(const WriteOp& op, Revision revision);

  const size_t max_batch_;
  WatchHub& hub_;
  std::atomic<Revision>& published_;

  std::mutex queue_mu_;
  std::deque<Pending*> queue_;  // front: the leader, committing

  std::mutex conn_mu_;  // the connection and revision_: the leader's batch, or run_exclusive
  std::unique_ptr<Connection> conn_;
  Revision revision_;
};

}  // namespace podnet::storage::sqlite
