#include "netlink/netns.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>

#include "common/files.h"
#include "support/scoped_netns.h"
#include "support/temp_dir.h"

namespace podnet::netlink {
namespace {

using testing::NetnsGuard;
using testing::ScopedNetns;

std::string fresh_name(const char* tag) {
  return std::string("pn-t-") + tag + "-" + std::to_string(::getpid());
}

TEST(NetNs, CreateOpenAndDeleteNamed) {
  std::string name = fresh_name("named");
  std::string path = "/var/run/netns/" + name;
  struct Cleanup {
    std::string name;
    ~Cleanup() { (void)delete_named_netns(name); }
  } cleanup{name};  // also when an assertion below returns early
  auto ns = create_named_netns(name);
  ASSERT_TRUE(ns) << ns.error().message();
  EXPECT_EQ(ns->path(), path);
  EXPECT_EQ(::access(path.c_str(), F_OK), 0);

  auto again = NetNs::open(path);
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_EQ(NetnsGuard::inode_of(*again), NetnsGuard::inode_of(*ns));
  EXPECT_NE(NetnsGuard::inode_of(*ns), NetnsGuard::current_inode());

  auto dup = create_named_netns(name);
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code, EEXIST);

  ASSERT_TRUE(delete_named_netns(name));
  EXPECT_NE(::access(path.c_str(), F_OK), 0);
  EXPECT_TRUE(delete_named_netns(name)) << "deleting twice is not an error";
}

// /run/netns is made a shared mount point of its own before the first namespace, as iproute2
// does, so a later `ip netns add` does not bind it over podnet's namespaces (which could then
// never be removed: EBUSY).
TEST(NetNs, CoexistsWithIproute2) {
  std::string ours = fresh_name("ours");
  std::string theirs = fresh_name("ip");
  struct Cleanup {
    std::string ours, theirs;
    ~Cleanup() {
      (void)delete_named_netns(ours);
      std::string cmd = "ip netns del " + theirs + " 2>/dev/null";
      (void)std::system(cmd.c_str());
    }
  } cleanup{ours, theirs};
  ASSERT_TRUE(create_named_netns(ours));

  std::string mountinfo = read_file("/proc/self/mountinfo").value_or("");
  EXPECT_NE(mountinfo.find(" /run/netns "), std::string::npos) << "/run/netns is no mount point";

  ASSERT_EQ(std::system(("ip netns add " + theirs).c_str()), 0);
  auto del = delete_named_netns(ours);
  ASSERT_TRUE(del) << del.error().message();
  EXPECT_NE(::access(("/var/run/netns/" + ours).c_str(), F_OK), 0);
  EXPECT_EQ(std::system(("ip netns del " + theirs).c_str()), 0);
}

TEST(NetNs, RejectsBadNames) {
  for (const char* bad : {"", ".", "..", "a/b"}) {
    auto ns = create_named_netns(bad);
    ASSERT_FALSE(ns) << bad;
    EXPECT_EQ(ns.error().code, EINVAL);
    auto del = delete_named_netns(bad);
    ASSERT_FALSE(del) << bad;
    EXPECT_EQ(del.error().code, EINVAL);
  }
}

TEST(NetNs, OpenMissingPathFails) {
  auto ns = NetNs::open("/var/run/netns/" + fresh_name("missing"));
  ASSERT_FALSE(ns);
  EXPECT_EQ(ns.error().code, ENOENT);
  EXPECT_NE(ns.error().message().find("missing"), std::string::npos);
}

// Whatever sits at the path, open() says what it is at once: it never opens a non-namespace for
// reading (a FIFO would block, a device could act on it).
TEST(NetNs, OpenRefusesWhatIsNotANetworkNamespacePromptly) {
  testing::TempDir dir("pn-netns");
  const std::string fifo = dir.path() + "/fifo", file = dir.path() + "/file";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  ASSERT_TRUE(write_file_atomic(file, "x"));
  struct Case {
    std::string path;
    int code;
    const char* says;
  } cases[] = {
      {fifo, EINVAL, "a FIFO, not a network namespace"},
      {file, EINVAL, "a regular file, not a network namespace"},
      {dir.path(), EINVAL, "a directory, not a network namespace"},
      {"/dev/null", EINVAL, "a character device, not a network namespace"},
      {"/proc/self/ns/mnt", EINVAL, "a mount namespace, not a network namespace"},
      {"/proc/self/ns/uts", EINVAL, "a UTS namespace, not a network namespace"},
      {dir.path() + "/missing", ENOENT, "No such file or directory"},
  };
  for (const auto& c : cases) {
    auto start = std::chrono::steady_clock::now();
    auto ns = NetNs::open(c.path);
    auto took = std::chrono::steady_clock::now() - start;
    ASSERT_FALSE(ns) << c.path;
    EXPECT_EQ(ns.error().code, c.code) << ns.error().message();
    EXPECT_NE(ns.error().message().find(c.says), std::string::npos) << ns.error().message();
    EXPECT_NE(ns.error().message().find(c.path), std::string::npos) << ns.error().message();
    EXPECT_LT(took, std::chrono::seconds(1)) << c.path;
  }
  EXPECT_TRUE(NetNs::open("/proc/self/ns/net"));
}

TEST(NetNs, RunEntersAndReturns) {
  NetnsGuard guard;
  ScopedNetns target;
  ino_t origin = NetnsGuard::current_inode();
  ino_t inside = 0;
  auto r = target.netns().run([&]() -> Result<int> {
    inside = NetnsGuard::current_inode();
    return 42;
  });
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(*r, 42);
  EXPECT_EQ(inside, NetnsGuard::inode_of(target.netns()));
  EXPECT_NE(inside, origin);
  EXPECT_EQ(NetnsGuard::current_inode(), origin);
  EXPECT_FALSE(guard.moved());
}

TEST(NetNs, RunReturnsEvenWhenFnFails) {
  NetnsGuard guard;
  ScopedNetns target;
  auto s = target.netns().run([]() -> Status { return fail("deliberate", EPERM); });
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, EPERM);
  EXPECT_FALSE(guard.moved());
}

TEST(NetNs, RunNests) {
  NetnsGuard guard;
  ScopedNetns outer, inner;
  auto s = outer.netns().run([&]() -> Status {
    EXPECT_EQ(NetnsGuard::current_inode(), NetnsGuard::inode_of(outer.netns()));
    auto r = inner.netns().run([&]() -> Status {
      EXPECT_EQ(NetnsGuard::current_inode(), NetnsGuard::inode_of(inner.netns()));
      return {};
    });
    EXPECT_EQ(NetnsGuard::current_inode(), NetnsGuard::inode_of(outer.netns()));
    return r;
  });
  EXPECT_TRUE(s);
  EXPECT_FALSE(guard.moved());
}

TEST(NetNs, CurrentIsTheThreadsNamespace) {
  ScopedNetns target;
  auto seen = target.netns().run([]() -> Result<ino_t> {
    auto cur = NetNs::current();
    if (!cur) return std::unexpected(cur.error());
    return NetnsGuard::inode_of(*cur);
  });
  ASSERT_TRUE(seen);
  EXPECT_EQ(*seen, NetnsGuard::inode_of(target.netns()));
}

TEST(NetNs, ScopedNetnsHasLoopbackUpAndIsRemoved) {
  std::string path;
  {
    ScopedNetns ns;
    path = ns.path();
    EXPECT_EQ(::access(path.c_str(), F_OK), 0);
    EXPECT_EQ(ns.sh("ping -c1 -W1 127.0.0.1"), 0);
  }
  EXPECT_NE(::access(path.c_str(), F_OK), 0);
}

}  // namespace
}  // namespace podnet::netlink
