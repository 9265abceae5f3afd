// Watch delivery: history first (from the log, in pages), then live events from the hub. Because the
// subscription exists before the first log read, every commit is either in the log read or in the
// queue (or both: the cursor drops duplicates), so there are no gaps.
#include "storage/sqlite_watch.h"

#include "common/error.h"
#include "storage/sqlite_log.h"

namespace podnet::storage::sqlite {

SqliteWatch::SqliteWatch(std::shared_ptr<SqliteShared> shared, std::shared_ptr<Subscription> sub,
                         Revision from)
    : shared_(std::move(shared)), sub_(std::move(sub)), cursor_(from) {}

SqliteWatch::~SqliteWatch() {
  shared_->hub.unsubscribe(sub_.get());
}

void SqliteWatch::cancel() {
  cancelled_.store(true);
  sub_->close();
}

void SqliteWatch::set_ready_callback(std::function<void()> ready) {
  sub_->set_ready_callback(std::move(ready));
}

StoreResult<std::vector<EventPtr>> SqliteWatch::read_history() {
  PODNET_TRY(conn, shared_->readers.acquire());
  PODNET_TRY(txn, Transaction::begin(*conn, false));
  PODNET_TRY(compacted, read_compact_revision(*conn));
  Revision cursor = cursor_.load();
  if (cursor < compacted)
    return store_fail(Errc::kCompacted, "watch " + sub_->prefix() + " after revision " +
                                            std::to_string(cursor) + ": compacted up to " +
                                            std::to_string(compacted));
  PODNET_TRY(events, events_after(*conn, sub_->prefix(), cursor, shared_->options.watch_replay_page));
  if (auto r = txn.commit(); !r) return std::unexpected(std::move(r.error()));
  return events;
}

StoreResult<std::vector<EventPtr>> SqliteWatch::deliver(std::vector<EventPtr> events) {
  Revision cursor = cursor_.load();
  std::erase_if(events, [&](const EventPtr& ev) { return ev->revision() <= cursor; });
  if (!events.empty()) cursor_.store(events.back()->revision(), std::memory_order_release);
  return events;
}

StoreResult<std::vector<EventPtr>> SqliteWatch::next(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (cancelled_.load() || shared_->closed.load()) return store_fail(Errc::kClosed, "watch closed");
    if (replaying_) {
      PODNET_TRY(page, read_history());
      if (!page.empty()) return deliver(std::move(page));
      // Caught up: whatever commits after that read reaches the subscription's queue.
      replaying_ = false;
    }
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    auto taken = sub_->take(std::max(left, std::chrono::milliseconds(0)));
    if (taken.overflowed) {
      // Events were dropped while this watch lagged; they are all committed, so the log has them.
      replaying_ = true;
      continue;
    }
    if (cancelled_.load() || (taken.closed && taken.events.empty()))
      return store_fail(Errc::kClosed, "watch closed");
    // The queue may hold only events the history read already delivered: then keep waiting.
    PODNET_TRY(events, deliver(std::move(taken.events)));
    if (!events.empty() || std::chrono::steady_clock::now() >= deadline) return events;
  }
}

}  // namespace podnet::storage::sqlite
