// Compaction: superseded versions and deletions at or below the compact revision go away, reads and
// watches below it fail with kCompacted, everything above it keeps working, revisions never reuse.
#include <sqlite3.h>

#include "fixture.h"

namespace podnet::storage::testing {
namespace {

// Rows in the log table, read with a separate connection (WAL lets it read beside the store).
int64_t log_rows(const std::string& path) {
  sqlite3* db = nullptr;
  int64_t n = -1;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM log", -1, &stmt, nullptr) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW)
      n = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
  }
  sqlite3_close(db);
  return n;
}

TEST_F(StoreTest, CompactedRevisionsAreGoneForReadsAndWatches) {
  create("/a", "1");     // 1
  update("/a", "2");     // 2
  create("/b", "1");     // 3
  store_->remove("/b");  // 4
  update("/a", "3");     // 5
  ASSERT_TRUE(store_->compact(4));
  EXPECT_EQ(store_->compacted_revision(), 4);

  auto old_list = store_->list("/", {.revision = 2});
  ASSERT_FALSE(old_list);
  EXPECT_EQ(old_list.error().code, Errc::kCompacted);
  auto old_get = store_->get("/a", 3);
  ASSERT_FALSE(old_get);
  EXPECT_EQ(old_get.error().code, Errc::kCompacted);
  auto old_watch = store_->watch("/", 3);
  ASSERT_FALSE(old_watch);
  EXPECT_EQ(old_watch.error().code, Errc::kCompacted);

  // At and above the compact revision everything still reads as before.
  auto at4 = store_->list("/", {.revision = 4});
  ASSERT_TRUE(at4) << at4.error().str();
  ASSERT_EQ(at4->items.size(), 1u);
  EXPECT_EQ(at4->items[0].value, "2");
  EXPECT_EQ(store_->get("/a")->value, "3");
  auto w = watch("/", 4);
  auto events = collect(*w, 1);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]->type, EventType::kModified);
  EXPECT_EQ(events[0]->prev->value, "2") << "the previous version of an event above the compact point stays";
}

TEST_F(StoreTest, CompactionSurvivesRestartAndRevisionsAreNotReused) {
  create("/a", "1");
  store_->remove("/a");  // the newest row is a tombstone that compaction deletes
  ASSERT_TRUE(store_->compact(2));
  reopen();
  EXPECT_EQ(store_->compacted_revision(), 2);
  EXPECT_EQ(store_->current_revision(), 2);
  EXPECT_EQ(create("/a", "again").mod_revision, 3);
  EXPECT_EQ(store_->watch("/", 1).error().code, Errc::kCompacted);
}

TEST_F(StoreTest, CompactionDropsSupersededRows) {
  for (int i = 0; i < 100; ++i) create("/k/" + std::to_string(i), "v0");
  for (int round = 1; round <= 5; ++round)
    for (int i = 0; i < 100; ++i) update("/k/" + std::to_string(i), "v" + std::to_string(round));
  for (int i = 0; i < 50; ++i) store_->remove("/k/" + std::to_string(i));
  auto o = options();
  o.compact_chunk = 37;  // many chunks, crossing key histories
  reopen(o);
  ASSERT_TRUE(store_->compact(store_->current_revision()));

  auto live = store_->list("/k/");
  ASSERT_TRUE(live);
  ASSERT_EQ(live->items.size(), 50u);
  for (const auto& kv : live->items) EXPECT_EQ(kv.value, "v5");
  EXPECT_EQ(log_rows(options().path), 50) << "only the live rows remain";
  auto w = watch("/", store_->current_revision());
  create("/new", "x");
  EXPECT_EQ(collect(*w, 1).size(), 1u);
}

TEST_F(StoreTest, CompactionIsIdempotentAndRejectsTheFuture) {
  create("/a", "1");
  update("/a", "2");
  ASSERT_TRUE(store_->compact(2));
  ASSERT_TRUE(store_->compact(1));
  EXPECT_EQ(store_->compacted_revision(), 2);
  auto future = store_->compact(10);
  ASSERT_FALSE(future);
  EXPECT_EQ(future.error().code, Errc::kFutureRevision);
}

TEST_F(StoreTest, ContinueTokenExpiresWithCompaction) {
  for (int i = 0; i < 6; ++i) create("/p/" + std::to_string(i), "v");
  auto page = store_->list("/p/", {.limit = 2});
  ASSERT_TRUE(page);
  update("/p/0", "v2");
  ASSERT_TRUE(store_->compact(store_->current_revision()));
  auto next = store_->list("/p/", {.limit = 2, .continue_token = page->continue_token});
  ASSERT_FALSE(next);
  EXPECT_EQ(next.error().code, Errc::kCompacted);
}

TEST_F(StoreTest, WatchLaggingBehindCompactionGetsCompacted) {
  auto o = options();
  o.watch_replay_page = 2;
  reopen(o);
  for (int i = 0; i < 10; ++i) create("/w/" + std::to_string(i), "v");
  auto w = watch("/w/", 1);
  auto page = w->next(std::chrono::milliseconds(0));
  ASSERT_TRUE(page);
  ASSERT_EQ(page->size(), 2u);  // revisions 2 and 3 delivered
  for (int i = 0; i < 10; ++i) update("/w/" + std::to_string(i), "v2");
  ASSERT_TRUE(store_->compact(8));
  auto r = w->next(std::chrono::milliseconds(0));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kCompacted);
}

}  // namespace
}  // namespace podnet::storage::testing
