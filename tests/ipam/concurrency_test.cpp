// Several plugin processes (and threads) at once, and kill -9 at random points.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <random>
#include <set>
#include <thread>

#include "fixture.h"

namespace podnet::ipam::testing {
namespace {

using ConcurrencyTest = IpamTest;

constexpr int kParallel = 50;

// Forks `n` children that block until release_all() and then run `body(i)`; exit status 0 = success.
class Children {
 public:
  template <class F>
  Children(int n, F body) {
    int fds[2];
    if (::pipe(fds) != 0) throw std::runtime_error("pipe");
    for (int i = 0; i < n; ++i) {
      pid_t pid = ::fork();
      if (pid == 0) {
        ::close(fds[1]);
        char c;
        (void)!::read(fds[0], &c, 1);  // EOF once the parent closes the write end
        ::_exit(body(i) ? 0 : 1);
      }
      pids_.push_back(pid);
    }
    ::close(fds[0]);
    start_ = fds[1];
  }
  void release_all() { ::close(start_); }
  int failures() {
    int bad = 0;
    for (pid_t p : pids_) {
      int st = 0;
      ::waitpid(p, &st, 0);
      if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) ++bad;
    }
    return bad;
  }

 private:
  std::vector<pid_t> pids_;
  int start_ = -1;
};

void expect_distinct_holdings(const Config& c, int n, const std::string& prefix) {
  std::set<std::string> seen;
  for (int i = 0; i < n; ++i) {
    auto held = addresses_of(c, att(prefix + std::to_string(i)));
    ASSERT_TRUE(held);
    ASSERT_EQ(held->size(), 2u) << i;
    for (const auto& a : *held)
      EXPECT_TRUE(seen.insert(a.to_string()).second) << "duplicate " << a.to_string();
  }
}

TEST_F(ConcurrencyTest, ProcessesGetDistinctAddresses) {
  auto c = config({{range("10.1.0.0/24")}, {range("fd00::/120")}});
  Children kids(kParallel, [&](int i) { return allocate(c, att("p" + std::to_string(i)), {}).has_value(); });
  kids.release_all();
  EXPECT_EQ(kids.failures(), 0);
  EXPECT_EQ(reservation_files().size(), 2u * kParallel);
  EXPECT_EQ(index_files().size(), size_t{kParallel});
  expect_distinct_holdings(c, kParallel, "p");
}

TEST_F(ConcurrencyTest, ThreadsGetDistinctAddresses) {
  // flock belongs to the open file description and each call opens the lock file anew, so
  // threads of one process serialize as well.
  auto c = config({{range("10.1.0.0/24")}, {range("fd00::/120")}});
  std::vector<std::thread> threads;
  std::atomic<int> failures = 0;
  for (int i = 0; i < kParallel; ++i)
    threads.emplace_back([&, i] {
      if (!allocate(c, att("t" + std::to_string(i)), {})) ++failures;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures, 0);
  EXPECT_EQ(reservation_files().size(), 2u * kParallel);
  expect_distinct_holdings(c, kParallel, "t");
}

TEST_F(ConcurrencyTest, AllocateAndReleaseInterleaved) {
  auto c = config({{range("10.1.0.0/26")}, {range("fd00::/120")}});
  Children kids(20, [&](int i) {
    for (int k = 0; k < 20; ++k) {
      auto who = att("i" + std::to_string(i) + "-" + std::to_string(k));
      if (!allocate(c, who, {}) || !release(c, who)) return false;
    }
    return allocate(c, att("i" + std::to_string(i)), {}).has_value();
  });
  kids.release_all();
  EXPECT_EQ(kids.failures(), 0);
  EXPECT_EQ(reservation_files().size(), 40u);
  expect_distinct_holdings(c, 20, "i");
}

TEST_F(ConcurrencyTest, KillDashNineNeverDuplicatesAndGcCleansUp) {
  auto c = config({{range("10.1.0.0/16")}, {range("fd00::/64")}});
  std::mt19937 rng(std::random_device{}());
  for (int round = 0; round < 20; ++round) {
    pid_t pid = ::fork();
    if (pid == 0) {
      for (int k = 0;; ++k) {
        auto who = att("k" + std::to_string(round) + "-" + std::to_string(k));
        (void)allocate(c, who, {});
        if (k % 3 == 0) (void)release(c, who);
      }
    }
    std::this_thread::sleep_for(std::chrono::microseconds(1000 + rng() % 20000));
    ::kill(pid, SIGKILL);
    int st = 0;
    ::waitpid(pid, &st, 0);
    ASSERT_TRUE(WIFSIGNALED(st));
  }
  auto before = reservation_files();
  ASSERT_FALSE(before.empty());

  // New allocations never hand out anything the killed processes still hold, half-written or not.
  std::set<std::string> taken(before.begin(), before.end());
  std::set<Attachment> fresh;
  for (int i = 0; i < 20; ++i) {
    auto who = att("after" + std::to_string(i));
    auto r = allocate(c, who, {});
    ASSERT_TRUE(r) << r.error().error.message();
    for (const auto& a : *r) EXPECT_TRUE(taken.insert(a.address.addr.to_string()).second) << a.address.str();
    fresh.insert(who);
  }

  auto gone = garbage_collect(c, fresh);
  ASSERT_TRUE(gone) << gone.error().message();
  EXPECT_EQ(reservation_files().size(), 40u);
  EXPECT_EQ(index_files().size(), 20u);
  for (const auto& who : fresh) EXPECT_EQ(addresses_of(c, who)->size(), 2u);

  ASSERT_TRUE(garbage_collect(c, {}));
  EXPECT_TRUE(reservation_files().empty());
  EXPECT_TRUE(index_files().empty());
  std::set<std::string> again;
  for (int i = 0; i < 20; ++i)
    for (const auto& a : alloc(c, att("again" + std::to_string(i)))) EXPECT_TRUE(again.insert(a).second) << a;
  EXPECT_EQ(again.size(), 40u);
}

}  // namespace
}  // namespace podnet::ipam::testing
