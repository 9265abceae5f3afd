// kill -9 in the middle of a write stream: a child process writes from 16 threads and reports every
// acknowledged key over a pipe; after SIGKILL the reopened database holds every reported key.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <set>
#include <thread>

#include "fixture.h"

namespace podnet::storage::testing {
namespace {

constexpr int kThreads = 16;

std::string crash_key(uint32_t id) {
  return "/registry/crash/" + std::to_string(id);
}

// The child: writes until killed. Only async-signal-unsafe work after fork is our own (no gtest).
[[noreturn]] void write_until_killed(const SqliteOptions& opts, int ack_fd) {
  auto store = SqliteStore::open(opts);
  if (!store) ::_exit(3);
  std::vector<std::thread> threads;
  for (uint32_t t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      std::string value(512, 'x');
      for (uint32_t i = 0;; ++i) {
        uint32_t id = t * 10'000'000 + i;
        if (!(*store)->create(crash_key(id), value)) ::_exit(4);
        // One 4-byte write is atomic on a pipe: acks from the threads never interleave.
        if (::write(ack_fd, &id, sizeof id) != sizeof id) ::_exit(5);
      }
    });
  for (auto& t : threads) t.join();
  ::_exit(0);
}

class CrashTest : public StoreTest, public ::testing::WithParamInterface<Durability> {};

TEST_P(CrashTest, EveryAcknowledgedWriteSurvivesSigkill) {
  auto opts = options();
  opts.durability = GetParam();
  store_.reset();  // the child must be the only process with the database open

  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(fds[0]);
    write_until_killed(opts, fds[1]);
  }
  ::close(fds[1]);

  std::set<uint32_t> acked;
  auto read_acks = [&](size_t until) {
    uint32_t id;
    while (acked.size() < until && ::read(fds[0], &id, sizeof id) == sizeof id) acked.insert(id);
  };
  read_acks(3000);
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the child stopped on its own, status " << status;
  read_acks(SIZE_MAX);  // acks still in the pipe were acknowledged before the kill too
  ::close(fds[0]);
  ASSERT_GE(acked.size(), 3000u);

  reopen(opts);
  for (uint32_t id : acked) {
    auto kv = store_->get(crash_key(id));
    ASSERT_TRUE(kv) << crash_key(id) << ": " << kv.error().str();
  }
  // The log is intact: every present key has its own revision, 1..current without holes.
  auto all = store_->list("/registry/crash/");
  ASSERT_TRUE(all);
  EXPECT_GE(all->items.size(), acked.size());
  EXPECT_EQ(static_cast<Revision>(all->items.size()), store_->current_revision());
  std::set<Revision> revs;
  for (const auto& kv : all->items) revs.insert(kv.mod_revision);
  EXPECT_EQ(revs.size(), all->items.size());
  // And it takes writes again.
  Revision before = store_->current_revision();
  EXPECT_EQ(create("/after", "x").mod_revision, before + 1);
}

INSTANTIATE_TEST_SUITE_P(Durability, CrashTest,
                         ::testing::Values(Durability::kProcessCrash, Durability::kPowerLoss),
                         [](const auto& info) {
                           return info.param == Durability::kProcessCrash ? std::string("ProcessCrash")
                                                                          : std::string("PowerLoss");
                         });

}  // namespace
}  // namespace podnet::storage::testing
