// SqliteStore: opening (lock, pragmas, schema), reads on pooled connections in one snapshot each,
// writes through the group committer, watches, and compaction in chunks between write batches.
#include "storage/sqlite_store.h"

#include <fcntl.h>
#include <sys/file.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include "common/error.h"
#include "storage/group_commit.h"
#include "storage/sqlite_log.h"
#include "storage/sqlite_shared.h"
#include "storage/sqlite_watch.h"

namespace podnet::storage {

using sqlite::Connection;
using sqlite::Transaction;

namespace {

StoreResult<UniqueFd> lock_database(const std::string& path) {
  std::string lock_path = path + ".lock";
  UniqueFd fd(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd.valid()) return store_fail(Errc::kIo, "open " + lock_path + ": " + std::strerror(errno));
  while (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EINTR) continue;
    if (errno == EWOULDBLOCK) return store_fail(Errc::kIo, path + " is in use by another process");
    return store_fail(Errc::kIo, "lock " + lock_path + ": " + std::strerror(errno));
  }
  return fd;
}

StoreStatus configure_writer(Connection& conn, Durability durability) {
  PODNET_TRY(mode, conn.prepare("PRAGMA journal_mode=WAL"));
  PODNET_TRY(row, mode.step());
  if (!row || mode.text_at(0) != "wal")
    return store_fail(Errc::kIo, "cannot switch the database to WAL mode");
  // See Durability: NORMAL already survives kill -9 in WAL mode; FULL adds an fsync per commit.
  return conn.exec(durability == Durability::kPowerLoss ? "PRAGMA synchronous=FULL"
                                                        : "PRAGMA synchronous=NORMAL");
}

// Checks `at` against the snapshot's current and compacted revisions; 0 means current.
StoreResult<Revision> resolve_revision(Connection& conn, Revision at, std::string_view doing) {
  PODNET_TRY(current, sqlite::read_current_revision(conn));
  if (at == 0) return current;
  if (at < 0) return store_fail(Errc::kInvalidArgument, std::string(doing) + ": negative revision");
  if (at > current)
    return store_fail(Errc::kFutureRevision, std::string(doing) + ": revision " + std::to_string(at) +
                                                 " is newer than the current " + std::to_string(current));
  PODNET_TRY(compacted, sqlite::read_compact_revision(conn));
  if (at < compacted)
    return store_fail(Errc::kCompacted, std::string(doing) + ": revision " + std::to_string(at) +
                                            " is compacted (up to " + std::to_string(compacted) + ")");
  return at;
}

// Continue tokens are "<revision>:<last key>": the next page reads the same snapshot after that key.
std::string make_continue(Revision revision, const std::string& last_key) {
  return std::to_string(revision) + ":" + last_key;
}

StoreResult<std::pair<Revision, std::string>> parse_continue(std::string_view token) {
  auto colon = token.find(':');
  Revision rev = 0;
  auto [end, ec] = std::from_chars(token.data(), token.data() + std::min(colon, token.size()), rev);
  if (colon == std::string_view::npos || ec != std::errc() || end != token.data() + colon || rev <= 0)
    return store_fail(Errc::kInvalidArgument, "malformed continue token");
  return std::pair{rev, std::string(token.substr(colon + 1))};
}

}  // namespace

namespace sqlite {

StoreResult<ReaderPool::Lease> ReaderPool::acquire() {
  {
    std::lock_guard lk(mu_);
    if (!idle_.empty()) {
      auto conn = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(conn));
    }
  }
  PODNET_TRY(conn, Connection::open(path_, busy_timeout_ms_));
  if (auto r = conn->exec("PRAGMA query_only=1"); !r) return std::unexpected(std::move(r.error()));
  return Lease(this, std::move(conn));
}

void ReaderPool::give_back(std::unique_ptr<Connection> conn) {
  std::lock_guard lk(mu_);
  if (idle_.size() < max_idle_) idle_.push_back(std::move(conn));
}

}  // namespace sqlite

StoreResult<std::unique_ptr<SqliteStore>> SqliteStore::open(SqliteOptions options) {
  PODNET_TRY(lock, lock_database(options.path));
  PODNET_TRY(conn, Connection::open(options.path, options.busy_timeout_ms));
  if (auto r = configure_writer(*conn, options.durability); !r) return std::unexpected(std::move(r.error()));
  if (auto r = sqlite::init_schema(*conn); !r) return std::unexpected(std::move(r.error()));
  PODNET_TRY(revision, sqlite::read_current_revision(*conn));
  PODNET_TRY(compacted, sqlite::read_compact_revision(*conn));

  auto shared = std::make_shared<sqlite::SqliteShared>(options);
  shared->revision.store(revision);
  shared->compact_revision.store(compacted);
  auto writer = std::make_unique<sqlite::GroupCommitWriter>(std::move(conn), revision, options.max_batch,
                                                            shared->hub, shared->revision);
  return std::unique_ptr<SqliteStore>(new SqliteStore(std::move(lock), std::move(shared), std::move(writer)));
}

SqliteStore::SqliteStore(UniqueFd lock, std::shared_ptr<sqlite::SqliteShared> shared,
                         std::unique_ptr<sqlite::GroupCommitWriter> writer)
    : lock_(std::move(lock)), shared_(std::move(shared)), writer_(std::move(writer)) {}

SqliteStore::~SqliteStore() {
  shared_->closed.store(true);
  shared_->hub.close_all();
  // The writer connection closes here, before the lock is released (members go in reverse order).
  writer_.reset();
}

StoreResult<KeyValue> SqliteStore::create(std::string_view key, std::string_view value) {
  PODNET_TRY(ev, writer_->write({sqlite::WriteOp::Kind::kCreate, key, value, 0}));
  return ev->kv;
}

StoreResult<KeyValue> SqliteStore::update(std::string_view key, std::string_view value,
                                          Revision expected_mod_revision) {
  PODNET_TRY(ev, writer_->write({sqlite::WriteOp::Kind::kUpdate, key, value, expected_mod_revision}));
  return ev->kv;
}

StoreResult<Removed> SqliteStore::remove(std::string_view key, Revision expected_mod_revision) {
  PODNET_TRY(ev, writer_->write({sqlite::WriteOp::Kind::kRemove, key, {}, expected_mod_revision}));
  return Removed{*ev->prev, ev->revision()};
}

StoreResult<KeyValue> SqliteStore::get(std::string_view key, Revision revision) {
  PODNET_TRY(conn, shared_->readers.acquire());
  PODNET_TRY(txn, Transaction::begin(*conn, false));
  std::string doing = "get " + std::string(key);
  PODNET_TRY(at, resolve_revision(*conn, revision, doing));
  PODNET_TRY(row, sqlite::latest_row(*conn, key, at));
  if (auto r = txn.commit(); !r) return std::unexpected(std::move(r.error()));
  if (!row || row->deleted) return store_fail(Errc::kNotFound, doing + ": not found");
  return KeyValue{std::move(row->name), std::move(row->value), row->create_revision, row->id};
}

StoreResult<ListResult> SqliteStore::list(std::string_view prefix, const ListOptions& options) {
  std::string doing = "list " + std::string(prefix);
  Revision revision = options.revision;
  sqlite::KeyRange range{std::string(prefix), false, prefix_end(prefix)};
  if (!options.continue_token.empty()) {
    PODNET_TRY(token, parse_continue(options.continue_token));
    if ((revision != 0 && revision != token.first) || !token.second.starts_with(prefix))
      return store_fail(Errc::kInvalidArgument, doing + ": continue token does not match the request");
    revision = token.first;
    range.start = std::move(token.second);
    range.start_exclusive = true;
  }
  PODNET_TRY(conn, shared_->readers.acquire());
  PODNET_TRY(txn, Transaction::begin(*conn, false));
  PODNET_TRY(at, resolve_revision(*conn, revision, doing));
  // One extra row tells whether another page follows.
  size_t fetch = options.limit == 0 ? 0 : options.limit + 1;
  PODNET_TRY(items, sqlite::list_live(*conn, range, at, fetch));
  if (auto r = txn.commit(); !r) return std::unexpected(std::move(r.error()));
  ListResult out;
  out.revision = at;
  if (options.limit != 0 && items.size() > options.limit) {
    items.resize(options.limit);
    out.continue_token = make_continue(at, items.back().key);
  }
  out.items = std::move(items);
  return out;
}

StoreResult<std::unique_ptr<Watch>> SqliteStore::watch(std::string_view prefix, Revision from_revision) {
  if (from_revision < 0) return store_fail(Errc::kInvalidArgument, "watch: negative revision");
  // Subscribe before deciding where history starts, so no commit can slip between the two.
  auto sub = shared_->hub.subscribe(std::string(prefix), shared_->options.watch_queue_limit);
  Revision from = from_revision == 0 ? shared_->revision.load(std::memory_order_acquire) : from_revision;
  Revision compacted = shared_->compact_revision.load();
  if (from < compacted) {
    shared_->hub.unsubscribe(sub.get());
    return store_fail(Errc::kCompacted, "watch " + std::string(prefix) + " from revision " +
                                            std::to_string(from) + ": compacted up to " +
                                            std::to_string(compacted));
  }
  return std::make_unique<sqlite::SqliteWatch>(shared_, std::move(sub), from);
}

StoreStatus SqliteStore::compact(Revision revision) {
  Revision current = shared_->revision.load();
  if (revision > current)
    return store_fail(Errc::kFutureRevision, "compact to " + std::to_string(revision) +
                                                 ": newer than the current " + std::to_string(current));
  // In chunks, each its own transaction, so writers wait for one chunk at most, not the whole job.
  Revision from = shared_->compact_revision.load();
  while (from < revision) {
    Revision to = std::min(revision, from + std::max<Revision>(1, shared_->options.compact_chunk));
    auto r = writer_->run_exclusive([&](Connection& conn) -> StoreStatus {
      // A concurrent compact() may have gone further already.
      PODNET_TRY(done, sqlite::read_compact_revision(conn));
      from = std::max(from, done);
      if (to <= from) return {};
      return sqlite::compact_range(conn, from, to);
    });
    if (!r) return r;
    Revision seen = shared_->compact_revision.load();
    while (seen < to && !shared_->compact_revision.compare_exchange_weak(seen, to)) {
    }
    from = std::max(from, to);
  }
  return {};
}

Revision SqliteStore::current_revision() const {
  return shared_->revision.load(std::memory_order_acquire);
}

Revision SqliteStore::compacted_revision() const {
  return shared_->compact_revision.load();
}

}  // namespace podnet::storage
