// Many writers at once (group commit): every acknowledged write has its own revision, none is lost
// or duplicated, and compare-and-swap serializes read-modify-write loops.
#include <algorithm>
#include <mutex>
#include <set>
#include <thread>

#include "fixture.h"

namespace podnet::storage::testing {
namespace {

TEST_F(StoreTest, SixteenWritersGetUniqueGaplessRevisions) {
  constexpr int kThreads = 16, kPerThread = 200;
  std::mutex mu;
  std::vector<Revision> revs;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      std::vector<Revision> mine;
      for (int i = 0; i < kPerThread; ++i) {
        auto r = store_->create("/c/" + std::to_string(t) + "/" + std::to_string(i), std::to_string(t));
        if (r) mine.push_back(r->mod_revision);
      }
      std::lock_guard lk(mu);
      revs.insert(revs.end(), mine.begin(), mine.end());
    });
  for (auto& t : threads) t.join();

  ASSERT_EQ(revs.size(), static_cast<size_t>(kThreads * kPerThread));
  std::sort(revs.begin(), revs.end());
  for (size_t i = 0; i < revs.size(); ++i) ASSERT_EQ(revs[i], static_cast<Revision>(i) + 1);
  EXPECT_EQ(store_->current_revision(), kThreads * kPerThread);
  auto all = store_->list("/c/");
  ASSERT_TRUE(all);
  EXPECT_EQ(all->items.size(), static_cast<size_t>(kThreads * kPerThread));
}

TEST_F(StoreTest, RacingCreatesOfOneKeyHaveOneWinner) {
  constexpr int kThreads = 16;
  std::atomic<int> won{0}, exists{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&] {
      auto r = store_->create("/one", "x");
      if (r)
        won++;
      else if (r.error().code == Errc::kAlreadyExists)
        exists++;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(won.load(), 1);
  EXPECT_EQ(exists.load(), kThreads - 1);
}

TEST_F(StoreTest, CompareAndSwapCounterLosesNoIncrement) {
  constexpr int kThreads = 16, kIncrements = 30;
  create("/counter", "0");
  std::atomic<int> conflicts{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < kIncrements;) {
        auto cur = store_->get("/counter");
        if (!cur) continue;
        auto next = std::to_string(std::stoi(cur->value) + 1);
        auto r = store_->update("/counter", next, cur->mod_revision);
        if (r) {
          ++i;
        } else {
          EXPECT_EQ(r.error().code, Errc::kConflict);
          conflicts++;
        }
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(store_->get("/counter")->value, std::to_string(kThreads * kIncrements));
  EXPECT_EQ(store_->current_revision(), 1 + kThreads * kIncrements);
}

}  // namespace
}  // namespace podnet::storage::testing
