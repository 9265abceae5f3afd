#include "controllers/work_queue.h"

#include <gtest/gtest.h>

#include <atomic>

#include "controllers/prefix_allocator.h"

namespace podnet::controllers {
namespace {

using namespace std::chrono_literals;

struct FakeClock {
  std::atomic<int64_t> ms{0};
  Clock fn() {
    return [this] { return std::chrono::system_clock::time_point(std::chrono::milliseconds(ms.load())); };
  }
};

TEST(WorkQueueTest, AKeyIsQueuedOnceAndNotHandedOutTwice) {
  FakeClock clock;
  WorkQueue q(clock.fn());
  q.add("a");
  q.add("b");
  q.add("a");
  EXPECT_EQ(q.try_get(), "a");
  q.add("a");                   // while "a" is being worked on
  EXPECT_EQ(q.try_get(), "b");  // not "a" again
  EXPECT_EQ(q.try_get(), std::nullopt);
  q.done("a");
  EXPECT_EQ(q.try_get(), "a");  // back once done
  q.done("a");
  q.done("b");
  EXPECT_EQ(q.try_get(), std::nullopt);
}

TEST(WorkQueueTest, RetriesBackOffOnTheInjectedClock) {
  FakeClock clock;
  WorkQueue q(clock.fn());
  q.add_rate_limited("k");  // 5 ms
  EXPECT_EQ(q.try_get(), std::nullopt);
  clock.ms = 5;
  EXPECT_EQ(q.try_get(), "k");
  q.done("k");
  q.add_rate_limited("k");  // 10 ms
  clock.ms = 14;
  EXPECT_EQ(q.try_get(), std::nullopt);
  clock.ms = 15;
  EXPECT_EQ(q.try_get(), "k");
  q.done("k");
  q.forget("k");
  q.add_rate_limited("k");  // 5 ms again
  clock.ms = 20;
  EXPECT_EQ(q.try_get(), "k");
}

TEST(WorkQueueTest, ShutdownWakesABlockedGet) {
  FakeClock clock;
  WorkQueue q(clock.fn());
  std::optional<std::string> got = "x";
  std::thread t([&] { got = q.get(); });
  std::this_thread::sleep_for(20ms);
  q.shutdown();
  t.join();
  EXPECT_EQ(got, std::nullopt);
}

IpPrefix prefix(const char* text) {
  return *parse_prefix(text);
}

TEST(PrefixAllocatorTest, LowestFreeFirstAndReleasedRangesComeBack) {
  auto a = PrefixAllocator::make(prefix("10.244.0.0/22"), 24);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->allocate()->str(), "10.244.0.0/24");
  EXPECT_TRUE(a->occupy(prefix("10.244.2.0/24")));
  EXPECT_FALSE(a->occupy(prefix("10.244.2.0/24")));  // taken
  EXPECT_FALSE(a->occupy(prefix("10.244.9.0/24")));  // outside
  EXPECT_FALSE(a->occupy(prefix("10.244.1.0/25")));  // wrong size
  EXPECT_EQ(a->allocate()->str(), "10.244.1.0/24");
  EXPECT_EQ(a->allocate()->str(), "10.244.3.0/24");
  EXPECT_FALSE(a->allocate());
  a->release(prefix("10.244.1.0/24"));
  EXPECT_EQ(a->allocate()->str(), "10.244.1.0/24");
}

TEST(PrefixAllocatorTest, Ipv6AndSkippedEnds) {
  auto v6 = PrefixAllocator::make(prefix("fd00:10:244::/56"), 64);
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->free_count(), 256u);
  v6->allocate();
  EXPECT_EQ(v6->allocate()->str(), "fd00:10:244:1::/64");
  auto pool = PrefixAllocator::make(prefix("192.168.1.240/28"), 32, true);
  ASSERT_TRUE(pool);
  EXPECT_EQ(pool->free_count(), 14u);
  EXPECT_EQ(pool->allocate()->str(), "192.168.1.241/32");
  EXPECT_FALSE(pool->occupy(prefix("192.168.1.255/32")));  // broadcast
  EXPECT_FALSE(PrefixAllocator::make(prefix("10.0.0.0/16"), 8));
}

}  // namespace
}  // namespace podnet::controllers
