// The SQL of the revision log. Keys are TEXT (binary collation, so they sort bytewise like etcd's);
// values are BLOBs. The (name, id) index serves both "latest row of a key" and prefix listing.
#include "storage/sqlite_log.h"

#include "common/error.h"

namespace podnet::storage::sqlite {

namespace {

// Binds the exclusive upper bound of a key range. "No upper bound" binds an empty BLOB: SQLite orders
// every TEXT value before every BLOB, so `name < X''` holds for all keys and the index range scan
// keeps a single query shape.
void bind_end(Stmt& stmt, int index, std::string_view end) {
  if (end.empty())
    stmt.bind_blob(index, "");
  else
    stmt.bind_text(index, end);
}

}  // namespace

StoreStatus init_schema(Connection& conn) {
  return conn.exec(R"sql(
    CREATE TABLE IF NOT EXISTS log (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      name TEXT NOT NULL,
      created INTEGER NOT NULL,
      deleted INTEGER NOT NULL,
      create_revision INTEGER NOT NULL,
      prev_revision INTEGER NOT NULL,
      value BLOB NOT NULL
    );
    CREATE INDEX IF NOT EXISTS log_name_id ON log (name, id);
    CREATE TABLE IF NOT EXISTS meta (
      name TEXT PRIMARY KEY,
      value INTEGER NOT NULL
    ) WITHOUT ROWID;
    INSERT OR IGNORE INTO meta (name, value) VALUES ('compact_revision', 0);
  )sql");
}

StoreResult<Revision> read_current_revision(Connection& conn) {
  PODNET_TRY(stmt, conn.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'log'"));
  PODNET_TRY(row, stmt.step());
  return row ? stmt.int_at(0) : 0;
}

StoreResult<Revision> read_compact_revision(Connection& conn) {
  PODNET_TRY(stmt, conn.prepare("SELECT value FROM meta WHERE name = 'compact_revision'"));
  PODNET_TRY(row, stmt.step());
  return row ? stmt.int_at(0) : 0;
}

StoreResult<std::optional<LogRow>> latest_row(Connection& conn, std::string_view key, Revision at) {
  PODNET_TRY(stmt, conn.prepare("SELECT id, created, deleted, create_revision, prev_revision, value "
                                "FROM log WHERE name = ?1 AND id <= ?2 ORDER BY id DESC LIMIT 1"));
  stmt.bind_text(1, key);
  stmt.bind_int(2, at);
  PODNET_TRY(found, stmt.step());
  if (!found) return std::optional<LogRow>();
  LogRow row;
  row.id = stmt.int_at(0);
  row.name = std::string(key);
  row.created = stmt.int_at(1) != 0;
  row.deleted = stmt.int_at(2) != 0;
  row.create_revision = stmt.int_at(3);
  row.prev_revision = stmt.int_at(4);
  row.value = stmt.blob_at(5);
  return row;
}

StoreStatus insert_row(Connection& conn, const LogRow& row) {
  PODNET_TRY(stmt, conn.prepare("INSERT INTO log (id, name, created, deleted, create_revision, "
                                "prev_revision, value) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"));
  stmt.bind_int(1, row.id);
  stmt.bind_text(2, row.name);
  stmt.bind_int(3, row.created);
  stmt.bind_int(4, row.deleted);
  stmt.bind_int(5, row.create_revision);
  stmt.bind_int(6, row.prev_revision);
  stmt.bind_blob(7, row.value);
  return stmt.run();
}

StoreResult<std::vector<KeyValue>> list_live(Connection& conn, const KeyRange& range, Revision at,
                                             size_t limit) {
  // Walks the (name, id) index in key order and keeps a row only if it is its key's newest at `at`
  // (an index seek each): results stream in order, so a page stops after `limit` rows instead of
  // grouping and sorting the whole prefix.
  static constexpr const char* kSelect =
      "SELECT kv.name, kv.value, kv.create_revision, kv.id FROM log kv WHERE ";
  static constexpr const char* kWhere =
      " AND kv.name < ?2 AND kv.id <= ?3 AND kv.id = (SELECT MAX(x.id) FROM log x WHERE x.name = kv.name "
      "AND x.id <= ?3) AND kv.deleted = 0 ORDER BY kv.name LIMIT ?4";
  static const std::string kInclusive = std::string(kSelect) + "kv.name >= ?1" + kWhere;
  static const std::string kExclusive = std::string(kSelect) + "kv.name > ?1" + kWhere;
  PODNET_TRY(stmt, conn.prepare(range.start_exclusive ? kExclusive : kInclusive));
  stmt.bind_text(1, range.start);
  bind_end(stmt, 2, range.end);
  stmt.bind_int(3, at);
  stmt.bind_int(4, limit == 0 ? -1 : static_cast<int64_t>(limit));
  std::vector<KeyValue> out;
  for (;;) {
    PODNET_TRY(row, stmt.step());
    if (!row) break;
    out.push_back(KeyValue{stmt.text_at(0), stmt.blob_at(1), stmt.int_at(2), stmt.int_at(3)});
  }
  return out;
}

Event event_from_row(const LogRow& row, std::string prev_value) {
  Event ev;
  ev.kv = KeyValue{row.name, row.value, row.create_revision, row.id};
  if (row.created) {
    ev.type = EventType::kAdded;
  } else if (row.deleted) {
    ev.type = EventType::kDeleted;
    // A tombstone stores the last value, so the previous object is that value at its own revision.
    ev.prev = KeyValue{row.name, row.value, row.create_revision, row.prev_revision};
  } else {
    ev.type = EventType::kModified;
    ev.prev = KeyValue{row.name, std::move(prev_value), row.create_revision, row.prev_revision};
  }
  return ev;
}

StoreResult<std::vector<EventPtr>> events_after(Connection& conn, std::string_view prefix, Revision after,
                                                size_t limit) {
  // `+l.name` keeps SQLite on the primary key: replays usually start near the head of the log, so
  // walking ids from `after` beats walking every version of every key under the prefix.
  // The previous row of an event above the compaction point is never compacted (only rows superseded
  // at or below it are), so the join finds it for every event a watch can still be given.
  PODNET_TRY(stmt,
             conn.prepare("SELECT l.id, l.name, l.created, l.deleted, l.create_revision, l.prev_revision, "
                          "l.value, p.value FROM log l LEFT JOIN log p ON p.id = l.prev_revision AND "
                          "l.deleted = 0 WHERE l.id > ?1 AND +l.name >= ?2 AND +l.name < ?3 "
                          "ORDER BY l.id LIMIT ?4"));
  stmt.bind_int(1, after);
  stmt.bind_text(2, prefix);
  bind_end(stmt, 3, prefix_end(prefix));
  stmt.bind_int(4, static_cast<int64_t>(limit));
  std::vector<EventPtr> out;
  for (;;) {
    PODNET_TRY(found, stmt.step());
    if (!found) break;
    LogRow row{stmt.int_at(0), stmt.text_at(1), stmt.int_at(2) != 0, stmt.int_at(3) != 0,
               stmt.int_at(4), stmt.int_at(5),  stmt.blob_at(6)};
    out.push_back(std::make_shared<const Event>(event_from_row(row, stmt.blob_at(7))));
  }
  return out;
}

StoreStatus compact_range(Connection& conn, Revision from, Revision to) {
  // Superseded rows: the predecessors of rows in (from, to]. Predecessors of rows at or below `from`
  // went in earlier rounds; those of rows above `to` stay, as events above `to` still need them.
  PODNET_TRY(superseded, conn.prepare("DELETE FROM log WHERE id IN (SELECT prev_revision FROM log "
                                      "WHERE id > ?1 AND id <= ?2 AND prev_revision > 0)"));
  superseded.bind_int(1, from);
  superseded.bind_int(2, to);
  if (auto r = superseded.run(); !r) return r;
  // Tombstones at or below `to`: their predecessors are gone by now, and at any revision >= to the key
  // reads as absent either way.
  PODNET_TRY(tombstones, conn.prepare("DELETE FROM log WHERE id > ?1 AND id <= ?2 AND deleted = 1"));
  tombstones.bind_int(1, from);
  tombstones.bind_int(2, to);
  if (auto r = tombstones.run(); !r) return r;
  PODNET_TRY(mark, conn.prepare("UPDATE meta SET value = MAX(value, ?1) WHERE name = 'compact_revision'"));
  mark.bind_int(1, to);
  return mark.run();
}

}  // namespace podnet::storage::sqlite
