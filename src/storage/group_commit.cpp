// Group commit, LevelDB-style: no writer thread. Each caller queues its op; the caller at the front
// becomes the leader, commits every op queued behind it in one transaction (one WAL sync), publishes
// the events, then hands leadership to the next in line. Ops in a batch see each other's effects.
#include "storage/group_commit.h"

#include <algorithm>

#include "common/error.h"
#include "storage/sqlite_log.h"

namespace podnet::storage::sqlite {

GroupCommitWriter::GroupCommitWriter(std::unique_ptr<Connection> conn, Revision revision, size_t max_batch,
                                     WatchHub& hub, std::atomic<Revision>& published)
    : max_batch_(std::max<size_t>(1, max_batch)),
      hub_(hub),
      published_(published),
      conn_(std::move(conn)),
      revision_(revision) {}

StoreResult<EventPtr> GroupCommitWriter::write(const WriteOp& op) {
  if (op.key.empty()) return store_fail(Errc::kInvalidArgument, "empty key");
  Pending me{&op, store_fail(Errc::kIo, "not committed")};
  std::unique_lock lk(queue_mu_);
  queue_.push_back(&me);
  me.cv.wait(lk, [&] { return me.done || queue_.front() == &me; });
  if (me.done) return std::move(me.result);

  // Leader: everything queued so far goes into this transaction.
  std::vector<Pending*> batch(queue_.begin(), queue_.begin() + std::min(queue_.size(), max_batch_));
  lk.unlock();
  commit_batch(batch);
  lk.lock();
  for (auto* p : batch) {
    queue_.pop_front();
    p->done = true;
    if (p != &me) p->cv.notify_one();
  }
  if (!queue_.empty()) queue_.front()->cv.notify_one();
  return std::move(me.result);
}

StoreResult<EventPtr> GroupCommitWriter::apply(const WriteOp& op, Revision revision) {
  PODNET_TRY(latest, latest_row(*conn_, op.key, kLatest));
  bool live = latest && !latest->deleted;
  LogRow row;
  row.id = revision;
  row.name = std::string(op.key);
  if (op.kind == WriteOp::Kind::kCreate) {
    if (live) return store_fail(Errc::kAlreadyExists, "create " + row.name + ": already exists");
    row.created = true;
    row.create_revision = revision;
    row.value = std::string(op.value);
  } else {
    const char* verb = op.kind == WriteOp::Kind::kUpdate ? "update " : "delete ";
    if (!live) return store_fail(Errc::kNotFound, verb + row.name + ": not found");
    if (op.expected_mod_revision != 0 && latest->id != op.expected_mod_revision)
      return store_fail(Errc::kConflict, verb + row.name + ": mod revision is " + std::to_string(latest->id) +
                                             ", expected " + std::to_string(op.expected_mod_revision));
    row.create_revision = latest->create_revision;
    row.prev_revision = latest->id;
    row.deleted = op.kind == WriteOp::Kind::kRemove;
    // A tombstone keeps the last value: DELETED events and the delete's answer carry it.
    row.value = row.deleted ? std::move(latest->value) : std::string(op.value);
  }
  if (auto r = insert_row(*conn_, row); !r) return std::unexpected(std::move(r.error()));
  std::string prev_value;
  if (op.kind == WriteOp::Kind::kUpdate) prev_value = std::move(latest->value);
  return std::make_shared<const Event>(event_from_row(row, std::move(prev_value)));
}

void GroupCommitWriter::commit_batch(const std::vector<Pending*>& batch) {
  std::lock_guard lk(conn_mu_);
  // When the transaction fails, even refusals are void: they may rest on an earlier op of the batch.
  auto fail_all = [&](const StoreError& e) {
    for (auto* p : batch) p->result = std::unexpected(e);
  };
  auto txn = Transaction::begin(*conn_, true);
  if (!txn) return fail_all(txn.error());

  Revision next = revision_;
  std::vector<EventPtr> events;
  events.reserve(batch.size());
  for (auto* p : batch) {
    p->result = apply(*p->op, next + 1);
    if (p->result) {
      ++next;
      events.push_back(*p->result);
    } else if (p->result.error().code == Errc::kIo) {
      // The transaction may be half-applied: nothing in it can be acknowledged.
      return fail_all(p->result.error());
    }
  }
  if (events.empty()) return;  // only refused ops: nothing to commit (the rollback is free)
  if (auto r = txn->commit(); !r) return fail_all(r.error());
  revision_ = next;
  published_.store(next, std::memory_order_release);
  hub_.publish(events);
}

StoreStatus GroupCommitWriter::run_exclusive(const std::function<StoreStatus(Connection&)>& fn) {
  std::lock_guard lk(conn_mu_);
  auto txn = Transaction::begin(*conn_, true);
  if (!txn) return std::unexpected(std::move(txn.error()));
  if (auto r = fn(*conn_); !r) return r;
  return txn->commit();
}

}  // namespace podnet::storage::sqlite
