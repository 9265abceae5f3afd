// Watch semantics: revision order without gaps or duplicates, replay from a revision (also after the
// store restarts), prefix filtering, slow watchers catching up from the log, cancel and close.
#include <atomic>
#include <thread>

#include "fixture.h"

namespace podnet::storage::testing {
namespace {

using namespace std::chrono_literals;

std::vector<Revision> revisions(const std::vector<EventPtr>& events) {
  std::vector<Revision> out;
  for (const auto& e : events) out.push_back(e->revision());
  return out;
}

TEST_F(StoreTest, WatchDeliversEventTypesWithPreviousValues) {
  auto w = watch("/k", 0);
  create("/k", "1");
  update("/k", "2");
  store_->remove("/k");
  auto events = collect(*w, 3);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0]->type, EventType::kAdded);
  EXPECT_EQ(events[0]->kv.value, "1");
  EXPECT_FALSE(events[0]->prev);
  EXPECT_EQ(events[1]->type, EventType::kModified);
  EXPECT_EQ(events[1]->kv.value, "2");
  ASSERT_TRUE(events[1]->prev);
  EXPECT_EQ(events[1]->prev->value, "1");
  EXPECT_EQ(events[1]->prev->mod_revision, 1);
  EXPECT_EQ(events[2]->type, EventType::kDeleted);
  EXPECT_EQ(events[2]->kv.value, "2") << "DELETED carries the last object";
  EXPECT_EQ(events[2]->kv.mod_revision, 3);
  ASSERT_TRUE(events[2]->prev);
  EXPECT_EQ(events[2]->prev->mod_revision, 2);
  EXPECT_EQ(w->revision(), 3);
}

TEST_F(StoreTest, WatchFiltersByPrefix) {
  auto w = watch("/registry/pods/", 0);
  create("/registry/services/s", "x");
  create("/registry/pods/a", "x");
  create("/registry/podsx", "x");
  auto events = collect(*w, 1);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]->kv.key, "/registry/pods/a");
  auto more = w->next(50ms);
  ASSERT_TRUE(more);
  EXPECT_TRUE(more->empty());
}

TEST_F(StoreTest, WatchReplaysFromRevisionThenFollowsLive) {
  for (int i = 0; i < 10; ++i) create("/r/" + std::to_string(i), "v");
  auto w = watch("/r/", 4);  // strictly after 4
  std::thread writer([&] {
    for (int i = 10; i < 20; ++i) create("/r/" + std::to_string(i), "v");
  });
  auto events = collect(*w, 16);
  writer.join();
  std::vector<Revision> want;
  for (Revision r = 5; r <= 20; ++r) want.push_back(r);
  EXPECT_EQ(revisions(events), want);
}

TEST_F(StoreTest, WatchReplayIsPagedAndOrdered) {
  auto o = options();
  o.watch_replay_page = 7;
  reopen(o);
  for (int i = 0; i < 50; ++i) create("/r/" + std::to_string(i), "v");
  auto w = watch("/r/", 0 + 1);
  auto events = collect(*w, 49);
  ASSERT_EQ(events.size(), 49u);
  for (size_t i = 0; i < events.size(); ++i) EXPECT_EQ(events[i]->revision(), static_cast<Revision>(i) + 2);
}

TEST_F(StoreTest, WatchResumesAfterStoreRestart) {
  create("/a", "1");
  auto w = watch("/", 0);
  update("/a", "2");
  auto first = collect(*w, 1);
  ASSERT_EQ(first.size(), 1u);
  Revision resume_at = w->revision();
  w.reset();

  // The server restarts; meanwhile nothing, then more writes after it is back.
  reopen();
  update("/a", "3");
  store_->remove("/a");
  auto w2 = watch("/", resume_at);
  auto events = collect(*w2, 2);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0]->type, EventType::kModified);
  EXPECT_EQ(events[0]->kv.value, "3");
  EXPECT_EQ(events[0]->prev->value, "2");
  EXPECT_EQ(events[1]->type, EventType::kDeleted);
}

TEST_F(StoreTest, SlowWatcherCatchesUpFromTheLog) {
  auto o = options();
  o.watch_queue_limit = 5;
  reopen(o);
  auto w = watch("/s/", 0);
  for (int i = 0; i < 100; ++i) create("/s/" + std::to_string(i), "v");
  auto events = collect(*w, 100);
  ASSERT_EQ(events.size(), 100u);
  for (size_t i = 0; i < events.size(); ++i) EXPECT_EQ(events[i]->revision(), static_cast<Revision>(i) + 1);
}

TEST_F(StoreTest, ConcurrentWritersAndWatchersSeeTheSameGaplessOrder) {
  constexpr int kThreads = 8, kPerThread = 100, kWatchers = 10;
  std::vector<std::unique_ptr<Watch>> watches;
  for (int i = 0; i < kWatchers; ++i) watches.push_back(watch("/c/", 0));
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t)
    writers.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i)
        (void)store_->create("/c/" + std::to_string(t) + "/" + std::to_string(i), "v");
    });
  for (auto& t : writers) t.join();
  for (auto& w : watches) {
    auto events = collect(*w, kThreads * kPerThread);
    ASSERT_EQ(events.size(), static_cast<size_t>(kThreads * kPerThread));
    for (size_t i = 0; i < events.size(); ++i) ASSERT_EQ(events[i]->revision(), static_cast<Revision>(i) + 1);
  }
}

TEST_F(StoreTest, CancelWakesABlockedNext) {
  auto w = watch("/", 0);
  std::thread canceller([&] {
    std::this_thread::sleep_for(50ms);
    w->cancel();
  });
  auto start = std::chrono::steady_clock::now();
  auto r = w->next(10s);
  canceller.join();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kClosed);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

TEST_F(StoreTest, ClosingTheStoreClosesWatches) {
  auto w = watch("/", 0);
  store_.reset();
  auto r = w->next(1s);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kClosed);
}

TEST_F(StoreTest, ReadyCallbackFiresOnNewEvents) {
  auto w = watch("/", 0);
  ASSERT_TRUE(w->next(0ms));  // past the (empty) replay: now following the hub
  std::atomic<int> calls{0};
  w->set_ready_callback([&] { calls++; });
  create("/x", "1");
  EXPECT_GE(calls.load(), 1);
  w->set_ready_callback({});
  auto events = w->next(0ms);
  ASSERT_TRUE(events);
  EXPECT_EQ(events->size(), 1u);
}

}  // namespace
}  // namespace podnet::storage::testing
