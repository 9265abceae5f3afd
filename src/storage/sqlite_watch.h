// Internal to podnet_storage: a watch on the SQLite store. It replays history from the log, then
// follows the in-process hub; when it lags too far behind, it drops to replaying from the log again.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "storage/sqlite_shared.h"

namespace podnet::storage::sqlite {

class SqliteWatch final : public Watch {
 public:
  // `sub` must be subscribed before anything is read from the log, so no commit falls in between.
  SqliteWatch(std::shared_ptr<SqliteShared> shared, std::shared_ptr<Subscription> sub, Revision from);
  ~SqliteWatch() override;

  StoreResult<std::vector<EventPtr>> next(std::chrono::milliseconds timeout) override;
  void cancel() override;
  Revision revision() const override { return cursor_.load(std::memory_order_acquire); }
  void set_ready_callback(std::function<void()> ready) override;

 private:
  // The next page of history after the cursor, read in one snapshot with the compaction check.
  StoreResult<std::vector<EventPtr>> read_history();
  StoreResult<std::vector<EventPtr>> deliver(std::vector<EventPtr> events);

  std::shared_ptr<SqliteShared> shared_;
  std::shared_ptr<Subscription> sub_;
  std::atomic<Revision> cursor_;  // last revision delivered
  bool replaying_ = true;         // history after the cursor may exist that the hub will not bring
  std::atomic<bool> cancelled_{false};
};

}  // namespace podnet::storage::sqlite
