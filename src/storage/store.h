// The API server's storage interface: a revisioned key-value store with watch and compaction,
// shaped like etcd's (cluster-wide revisions, create/mod revisions per key) so backends are swappable.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace podnet::storage {

// Every write gets the next revision; revisions are never reused, also across restarts and compaction.
using Revision = int64_t;

enum class Errc {
  kNotFound,         // no live object at the key
  kAlreadyExists,    // create() of a live key
  kConflict,         // compare-and-swap lost: the key's mod_revision differs from the expected one
  kCompacted,        // the requested revision is older than the compaction point (HTTP 410 Gone)
  kFutureRevision,   // the requested revision has not been written yet
  kInvalidArgument,  // malformed key, continue token or option
  kClosed,           // the watch was cancelled or the store closed
  kIo,               // the backend failed (disk, database, lock)
};

std::string_view errc_name(Errc code);

struct StoreError {
  Errc code = Errc::kIo;
  std::string message;  // what was being done and why it failed, for logs

  std::string str() const;  // "Conflict: update /registry/x: mod revision is 7, expected 5"
};

template <class T>
using StoreResult = std::expected<T, StoreError>;
using StoreStatus = std::expected<void, StoreError>;

inline std::unexpected<StoreError> store_fail(Errc code, std::string message) {
  return std::unexpected(StoreError{code, std::move(message)});
}

struct KeyValue {
  std::string key;
  std::string value;
  Revision create_revision = 0;  // revision that created this incarnation of the key
  Revision mod_revision = 0;     // revision of the last write to it

  bool operator==(const KeyValue&) const = default;
};

// remove() answers with the object as it was last stored and the revision of the deletion.
struct Removed {
  KeyValue last;
  Revision revision = 0;
};

struct ListOptions {
  size_t limit = 0;            // 0: no limit
  std::string continue_token;  // from a previous page; pins the page to that page's revision
  Revision revision = 0;       // 0: the current revision
};

struct ListResult {
  std::vector<KeyValue> items;  // sorted by key
  Revision revision = 0;        // the snapshot the items were read at
  std::string continue_token;   // empty when this is the last page
};

enum class EventType { kAdded, kModified, kDeleted };
std::string_view event_type_name(EventType type);

struct Event {
  EventType type = EventType::kAdded;
  // kAdded/kModified: the new object. kDeleted: the last stored object, with mod_revision set to
  // the revision of the deletion (what a Kubernetes DELETED watch event carries).
  KeyValue kv;
  std::optional<KeyValue> prev;  // the object before a kModified or kDeleted event

  Revision revision() const { return kv.mod_revision; }
};
// Events are shared between all watches they are delivered to, never copied per watcher.
using EventPtr = std::shared_ptr<const Event>;

// A stream of the events under a prefix, in revision order, without gaps or duplicates. Used from one
// thread at a time, except cancel() which may be called from anywhere.
class Watch {
 public:
  virtual ~Watch() = default;

  // Waits up to `timeout` (0: do not wait) for events and returns them; empty on timeout.
  // Errors: kCompacted (events were compacted before they could be delivered: re-list and re-watch),
  // kClosed (cancelled or store closed), kIo.
  virtual StoreResult<std::vector<EventPtr>> next(std::chrono::milliseconds timeout) = 0;
  // Ends the watch: a blocked or later next() returns kClosed.
  virtual void cancel() = 0;
  // The revision of the last event delivered (the from_revision at the start): a client resumes here.
  virtual Revision revision() const = 0;
  // For event loops: `ready` is called (from a writer's thread, keep it short) when next() may have
  // something new to say. Replaces any earlier callback; an empty function removes it.
  virtual void set_ready_callback(std::function<void()> ready) = 0;
};

class Store {
 public:
  virtual ~Store() = default;

  // Fails with kAlreadyExists when the key is live.
  virtual StoreResult<KeyValue> create(std::string_view key, std::string_view value) = 0;
  // Compare-and-swap on the key's mod_revision (0: unconditional). kNotFound, kConflict.
  virtual StoreResult<KeyValue> update(std::string_view key, std::string_view value,
                                       Revision expected_mod_revision) = 0;
  // Compare-and-swap delete (0: unconditional). kNotFound, kConflict.
  virtual StoreResult<Removed> remove(std::string_view key, Revision expected_mod_revision = 0) = 0;
  // The key at `revision` (0: current). kNotFound, kCompacted, kFutureRevision.
  virtual StoreResult<KeyValue> get(std::string_view key, Revision revision = 0) = 0;
  // Live keys starting with `prefix`, sorted, paginated. kCompacted, kFutureRevision.
  virtual StoreResult<ListResult> list(std::string_view prefix, const ListOptions& options = {}) = 0;
  // Events under `prefix` with revision > from_revision (0: from now on). from_revision below the
  // compaction point fails with kCompacted. Past events come from storage, so this works across
  // restarts of the client and of the store.
  virtual StoreResult<std::unique_ptr<Watch>> watch(std::string_view prefix, Revision from_revision) = 0;
  // Drops history at and below `revision`: superseded versions and deletions. Reads and watches at
  // revisions below it then fail with kCompacted. Compacting to or below the current point is a no-op.
  virtual StoreStatus compact(Revision revision) = 0;
  virtual Revision current_revision() const = 0;
  virtual Revision compacted_revision() const = 0;
};

// The smallest key greater than every key starting with `prefix`; empty when there is none
// (prefix empty or all 0xff), meaning "no upper bound".
std::string prefix_end(std::string_view prefix);

}  // namespace podnet::storage
