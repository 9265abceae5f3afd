// On-disk layout, crash leftovers, garbage collection and state left by earlier runs or host-local.
#include <gtest/gtest.h>

#include "fixture.h"

namespace podnet::ipam::testing {
namespace {

using StateTest = IpamTest;

TEST_F(StateTest, LayoutIsHostLocalCompatiblePlusIndex) {
  auto c = config({{range("10.1.0.0/24")}, {range("fd00::/64")}});
  alloc(c, att("c1"));
  EXPECT_EQ(read("10.1.0.2"), "c1\r\neth0");
  EXPECT_EQ(read("fd00::2"), "c1\r\neth0");
  EXPECT_EQ(read("last_reserved_ip.0"), "10.1.0.2");
  EXPECT_EQ(read("last_reserved_ip.1"), "fd00::2");
  EXPECT_EQ(read("by-id/c1:eth0"), "c1\r\neth0\r\n10.1.0.2\r\nfd00::2\r\n");
  EXPECT_TRUE(std::filesystem::exists(net_dir() + "/lock"));
  // Characters outside [A-Za-z0-9._-] are escaped, so the name stays one unambiguous path element.
  alloc(c, att("c:2/x", "e%0"));
  EXPECT_EQ(index_files(), (std::vector<std::string>{"c%3a2%2fx:e%250", "c1:eth0"}));
}

TEST_F(StateTest, LongAttachmentNamesAreHashed) {
  auto c = config({{range("10.1.0.0/24")}});
  std::string id(300, 'a');
  alloc1(c, att(id));
  auto idx = index_files();
  ASSERT_EQ(idx.size(), 1u);
  EXPECT_LE(idx[0].size(), 200u);
  EXPECT_EQ(addresses_of(c, att(id))->size(), 1u);
  ASSERT_TRUE(release(c, att(id)));
  EXPECT_TRUE(reservation_files().empty());
  EXPECT_TRUE(index_files().empty());
}

TEST_F(StateTest, FreshCallsSeePreviousReservations) {
  auto c = config({{range("10.1.0.0/24")}});
  alloc1(c, att("c1"));
  // A "restarted" plugin: a new Config object, nothing shared but the directory.
  Config again = config({{range("10.1.0.0/24")}});
  auto dup = allocate(again, att("c1"), {});
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().kind, ErrorKind::kAlreadyAllocated);
  EXPECT_EQ(alloc1(again, att("c2")), "10.1.0.3/24");
  EXPECT_EQ(addresses_of(again, att("c1"))->at(0).to_string(), "10.1.0.2");
}

TEST_F(StateTest, HostLocalStateIsUsable) {
  // What host-local (or an index-less crash) leaves: reservation files only, one in the legacy
  // container-ID-only form, and the round-robin position.
  write("10.1.0.2", "old\r\neth0");
  write("10.1.0.3", "legacy");
  write("last_reserved_ip.0", "10.1.0.3");
  std::filesystem::remove(net_dir() + "/by-id");
  auto c = config({{range("10.1.0.0/24")}});
  EXPECT_EQ(alloc1(c, att("new")), "10.1.0.4/24");
  EXPECT_EQ(addresses_of(c, att("old"))->at(0).to_string(), "10.1.0.2");
  EXPECT_EQ(addresses_of(c, att("legacy", "eth7"))->at(0).to_string(), "10.1.0.3");
  ASSERT_TRUE(release(c, att("old")));
  ASSERT_TRUE(release(c, att("legacy", "eth7")));
  EXPECT_EQ(reservation_files(), (std::vector<std::string>{"10.1.0.4"}));
}

TEST_F(StateTest, ReleaseWithMissingIndexScans) {
  auto c = config({{range("10.1.0.0/24")}, {range("fd00::/64")}});
  alloc(c, att("c1"));
  alloc(c, att("c2"));
  std::filesystem::remove(net_dir() + "/by-id/c1:eth0");
  EXPECT_EQ(addresses_of(c, att("c1"))->size(), 2u);
  ASSERT_TRUE(release(c, att("c1")));
  EXPECT_EQ(reservation_files(), (std::vector<std::string>{"10.1.0.3", "fd00::3"}));
  EXPECT_EQ(index_files(), (std::vector<std::string>{"c2:eth0"}));
}

TEST_F(StateTest, StaleIndexNeverReleasesSomeoneElsesAddress) {
  // A release killed between freeing 10.1.0.2 and removing its index; the address went to c2 since.
  auto c = config({{range("10.1.0.0/24")}});
  write("10.1.0.2", "c2\r\neth0");
  write("by-id/c1:eth0", "c1\r\neth0\r\n10.1.0.2\r\n");
  EXPECT_TRUE(addresses_of(c, att("c1"))->empty());
  ASSERT_TRUE(release(c, att("c1")));
  EXPECT_EQ(read("10.1.0.2"), "c2\r\neth0");
  EXPECT_TRUE(index_files().empty());
  // Nor does a stale index block a new allocation.
  write("by-id/c1:eth0", "c1\r\neth0\r\n10.1.0.2\r\n");
  EXPECT_EQ(alloc1(c, att("c1")), "10.1.0.3/24");
  EXPECT_EQ(read("by-id/c1:eth0"), "c1\r\neth0\r\n10.1.0.3\r\n");
}

TEST_F(StateTest, GarbageCollectReleasesStaleAndKeepsValid) {
  auto c = config({{range("10.1.0.0/24")}, {range("fd00::/64")}});
  alloc(c, att("keep"));
  alloc(c, att("drop"));
  alloc(c, att("keep", "eth1"));
  auto gone = garbage_collect(c, {att("keep"), att("keep", "eth1"), att("unknown")});
  ASSERT_TRUE(gone) << gone.error().message();
  EXPECT_EQ(*gone, (std::vector<Attachment>{att("drop")}));
  EXPECT_EQ(reservation_files(), (std::vector<std::string>{"10.1.0.2", "10.1.0.4", "fd00::2", "fd00::4"}));
  EXPECT_EQ(index_files(), (std::vector<std::string>{"keep:eth0", "keep:eth1"}));
  EXPECT_EQ(addresses_of(c, att("keep"))->size(), 2u);
  // Nothing more to do the second time.
  EXPECT_TRUE(garbage_collect(c, {att("keep"), att("keep", "eth1")})->empty());
  EXPECT_EQ(reservation_files().size(), 4u);
}

TEST_F(StateTest, GarbageCollectRemovesHalfWrittenReservations) {
  auto c = config({{range("10.1.0.0/24", "10.1.0.2", "10.1.0.3")}});
  alloc1(c, att("c1"));
  // kill -9 between the O_EXCL create and the write: an empty file that blocks the address.
  write("10.1.0.3", "");
  EXPECT_EQ(allocate(c, att("c2"), {}).error().kind, ErrorKind::kExhausted);
  auto gone = garbage_collect(c, {att("c1")});
  ASSERT_TRUE(gone);
  EXPECT_TRUE(gone->empty());  // no attachment to name
  EXPECT_EQ(reservation_files(), (std::vector<std::string>{"10.1.0.2"}));
  EXPECT_EQ(alloc1(c, att("c2")), "10.1.0.3/24");
}

TEST_F(StateTest, GarbageCollectRepairsTheIndex) {
  auto c = config({{range("10.1.0.0/24")}});
  alloc1(c, att("a"));
  alloc1(c, att("b"));
  write("10.1.0.9", "c\r\neth0");                                  // reserved, index never written
  write("by-id/a:eth0", "a\r\neth0\r\n10.1.0.2\r\n10.1.0.7\r\n");  // lists an address it lost
  write("by-id/a:eth0.tmp-999", "a\r\neth0\r\n");                  // torn write_file_atomic
  write("by-id/gone:eth0", "gone\r\neth0\r\n10.1.0.8\r\n");        // attachment released long ago
  write("by-id/junk", "x");
  auto gone = garbage_collect(c, {att("a"), att("b"), att("c")});
  ASSERT_TRUE(gone);
  EXPECT_TRUE(gone->empty());
  EXPECT_EQ(index_files(), (std::vector<std::string>{"a:eth0", "b:eth0", "c:eth0"}));
  EXPECT_EQ(read("by-id/a:eth0"), "a\r\neth0\r\n10.1.0.2\r\n");
  EXPECT_EQ(read("by-id/c:eth0"), "c\r\neth0\r\n10.1.0.9\r\n");
  EXPECT_EQ(reservation_files(), (std::vector<std::string>{"10.1.0.2", "10.1.0.3", "10.1.0.9"}));
}

TEST_F(StateTest, GarbageCollectHandlesLegacyReservations) {
  auto c = config({{range("10.1.0.0/24")}});
  write("10.1.0.2", "ctr1");
  write("10.1.0.3", "ctr2\n");
  auto gone = garbage_collect(c, {att("ctr1", "eth0")});
  ASSERT_TRUE(gone);
  EXPECT_EQ(*gone, (std::vector<Attachment>{att("ctr2", "")}));
  EXPECT_EQ(reservation_files(), (std::vector<std::string>{"10.1.0.2"}));
}

TEST_F(StateTest, GarbageCollectOnMissingNetworkIsANoop) {
  auto c = config({{range("10.1.0.0/24")}});
  auto gone = garbage_collect(c, {});
  ASSERT_TRUE(gone);
  EXPECT_TRUE(gone->empty());
  EXPECT_FALSE(std::filesystem::exists(net_dir()));
}

TEST_F(StateTest, IoErrorsCarryErrnoAndPath) {
  auto c = config({{range("10.1.0.0/24")}});
  c.data_dir = root_ + "/file";
  ASSERT_TRUE(write_file_atomic(c.data_dir, "not a directory"));
  auto r = allocate(c, att("c1"), {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::kIo);
  EXPECT_EQ(r.error().error.code, ENOTDIR);
  EXPECT_NE(r.error().error.message().find(c.data_dir), std::string::npos) << r.error().error.message();
}

}  // namespace
}  // namespace podnet::ipam::testing
