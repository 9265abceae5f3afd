// Internal to podnet_storage: the kine-style revision log in SQLite, its schema and every query on it.
// One row per write, id = revision; get/list read the latest row per key at or below a revision.
#pragma once

#include <cstddef>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/sqlite_db.h"
#include "storage/store.h"

namespace podnet::storage::sqlite {

constexpr Revision kLatest = std::numeric_limits<Revision>::max();

// One row of the log table.
struct LogRow {
  Revision id = 0;               // the revision of this write
  std::string name;              // the key
  bool created = false;          // this write started the key's life (ADDED)
  bool deleted = false;          // a tombstone (DELETED); value is the last stored value
  Revision create_revision = 0;  // id of the row that created this incarnation
  Revision prev_revision = 0;    // id of the row this one supersedes, 0 for a creation
  std::string value;
};

// Creates the tables and indexes if missing (idempotent).
StoreStatus init_schema(Connection& conn);
// The highest revision ever written; survives compaction (SQLite's AUTOINCREMENT high-water mark).
StoreResult<Revision> read_current_revision(Connection& conn);
StoreResult<Revision> read_compact_revision(Connection& conn);

// The latest row of `key` with id <= at (a tombstone included), or nullopt.
StoreResult<std::optional<LogRow>> latest_row(Connection& conn, std::string_view key, Revision at);
StoreStatus insert_row(Connection& conn, const LogRow& row);

struct KeyRange {
  std::string start;  // first key (inclusive), or the last key already returned (exclusive)
  bool start_exclusive = false;
  std::string end;  // exclusive; empty: unbounded
};
// Live keys in `range` as of revision `at`, sorted by key, at most `limit` (0: all).
StoreResult<std::vector<KeyValue>> list_live(Connection& conn, const KeyRange& range, Revision at,
                                             size_t limit);

// The writes under `prefix` with revision > after, oldest first, at most `limit`, as watch events.
StoreResult<std::vector<EventPtr>> events_after(Connection& conn, std::string_view prefix, Revision after,
                                                size_t limit);
// The watch event for a row; `prev_value` is the value of row.prev_revision (for updates).
Event event_from_row(const LogRow& row, std::string prev_value);

// Deletes history in (from, to]: rows superseded by a row <= to, and tombstones. Records `to` as
// the compact revision in the same transaction (the caller's).
StoreStatus compact_range(Connection& conn, Revision from, Revision to);

}  // namespace podnet::storage::sqlite
