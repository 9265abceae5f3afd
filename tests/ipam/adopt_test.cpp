// Upgrading to the run-dir layout: leases an older build left under the state dir follow into the
// run dir, so no address is handed out twice; repeating the adoption changes nothing.
#include "ipam/adopt.h"

#include <gtest/gtest.h>

#include "fixture.h"

namespace podnet::ipam::testing {
namespace {

using AdoptTest = IpamTest;

TEST_F(AdoptTest, OldLeasesMoveAndAreNotHandedOutAgain) {
  const std::string old_dir = root_ + "/state/ipam", new_dir = root_ + "/run/ipam";
  auto old_cfg = config({{range("10.1.0.0/29")}});
  old_cfg.data_dir = old_dir;
  // The older build's pods: two leases, then its round-robin cursor.
  EXPECT_EQ(alloc1(old_cfg, att("c1")), "10.1.0.2/29");
  EXPECT_EQ(alloc1(old_cfg, att("c2")), "10.1.0.3/29");
  auto new_cfg = old_cfg;
  new_cfg.data_dir = new_dir;
  // The new dir already holds a lease of its own (a pod started by the new build): it stays.
  ASSERT_TRUE(make_dirs(new_dir + "/net1"));
  ASSERT_TRUE(write_file_atomic(new_dir + "/net1/10.1.0.5", "c5\r\neth0"));

  auto st = adopt_dir(old_dir, new_dir);
  ASSERT_TRUE(st) << st.error().message();
  EXPECT_EQ(st->reservations, 2u);
  EXPECT_EQ(st->conflicts, 0u);
  EXPECT_TRUE(std::filesystem::is_symlink(old_dir));
  EXPECT_FALSE(std::filesystem::exists(old_dir + ".adopting"));
  // The next allocations (round-robin resumes after .3) skip every lease, old and new.
  EXPECT_EQ(alloc1(new_cfg, att("c3")), "10.1.0.4/29");
  EXPECT_EQ(alloc1(new_cfg, att("c4")), "10.1.0.6/29");
  // Old pods keep theirs and can release them through the index that moved.
  EXPECT_EQ(addresses_of(new_cfg, att("c1"))->size(), 1u);
  ASSERT_TRUE(release(new_cfg, att("c2")));
  EXPECT_EQ(alloc1(new_cfg, att("c6")), "10.1.0.3/29");
  // A plugin still configured with the old path reserves in the new dir (the link): the range
  // (.2-.6 here) is full there, so it gets nothing rather than an address a pod holds.
  EXPECT_FALSE(allocate(old_cfg, att("c7"), {}));
  ASSERT_TRUE(release(new_cfg, att("c4")));
  EXPECT_EQ(alloc1(old_cfg, att("c7")), "10.1.0.6/29");
  EXPECT_TRUE(std::filesystem::exists(new_dir + "/net1/10.1.0.6"));

  // Idempotent: again (as at every agent start) changes nothing.
  auto again = adopt_dir(old_dir, new_dir);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->reservations, 0u);
  EXPECT_EQ(addresses_of(new_cfg, att("c1"))->size(), 1u);
}

TEST_F(AdoptTest, ResumesAfterACrashAndCountsConflicts) {
  const std::string old_dir = root_ + "/state/ipam", new_dir = root_ + "/run/ipam";
  // Killed after the rename: only old_dir.adopting is left, with a lease the new dir also has,
  // held by someone else (a double allocation that already happened: reported, new one kept).
  ASSERT_TRUE(make_dirs(old_dir + ".adopting/net1"));
  ASSERT_TRUE(write_file_atomic(old_dir + ".adopting/net1/10.1.0.2", "c1\r\neth0"));
  ASSERT_TRUE(write_file_atomic(old_dir + ".adopting/net1/10.1.0.3", "c2\r\neth0"));
  ASSERT_TRUE(make_dirs(new_dir + "/net1"));
  ASSERT_TRUE(write_file_atomic(new_dir + "/net1/10.1.0.3", "c9\r\neth0"));
  auto st = adopt_dir(old_dir, new_dir);
  ASSERT_TRUE(st) << st.error().message();
  EXPECT_EQ(st->reservations, 1u);
  EXPECT_EQ(st->conflicts, 1u);
  EXPECT_EQ(*read_file(new_dir + "/net1/10.1.0.2"), "c1\r\neth0");
  EXPECT_EQ(*read_file(new_dir + "/net1/10.1.0.3"), "c9\r\neth0");
  EXPECT_TRUE(std::filesystem::is_symlink(old_dir));
  EXPECT_FALSE(std::filesystem::exists(old_dir + ".adopting"));
  // A fresh node: nothing under the state dir, nothing made there.
  auto none = adopt_dir(root_ + "/fresh/ipam", root_ + "/fresh-run/ipam");
  ASSERT_TRUE(none);
  EXPECT_FALSE(std::filesystem::exists(root_ + "/fresh/ipam"));
}

}  // namespace
}  // namespace podnet::ipam::testing
