// The fast path's CNI side against the real kernel: a private bpffs with a trivial tc program and
// a pn_pods-shaped map pinned (what the agent would leave), a veth in a namespace of our own.
#include "fastpath/bpf_sys.h"

#include <gtest/gtest.h>
#include <linux/bpf.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>

#include "fastpath/pod_attach.h"
#include "support/bpf_fixture.h"
#include "support/scoped_netns.h"
#include "support/temp_dir.h"

namespace podnet::fastpath {
namespace {

using podnet::testing::BpfFs;
using podnet::testing::PinnedFastPath;
using podnet::testing::ScopedNetns;

__u32 key_of(const char* ip) {
  auto a = parse_ip(ip);
  EXPECT_TRUE(a);
  auto bytes = a->to_v4().to_bytes();
  __u32 k;
  std::memcpy(&k, bytes.data(), sizeof k);
  return k;
}

std::string random_suffix() {
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08x", std::random_device{}());
  return buf;
}

// A veth pair inside `ns`; returns the ifindex of `pn-fp-<random>`.
int make_veth(const ScopedNetns& ns) {
  auto nl = ns.netlink();
  const std::string rnd = random_suffix();
  netlink::VethSpec spec;
  spec.name = "pn-fp-" + rnd;
  spec.peer_name = "pn-fpp-" + rnd;
  spec.up = true;
  auto s = nl.create_veth(spec);
  EXPECT_TRUE(s) << s.error().message();
  auto index = nl.index_of(spec.name);
  EXPECT_TRUE(index) << index.error().message();
  return index ? *index : 0;
}

class FastPathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::geteuid(), 0u) << "bpf tests need root";
    ASSERT_TRUE(fp_.pinned);
    ifindex_ = make_veth(ns_);
    ASSERT_GT(ifindex_, 0);
  }
  // bpf(2) attach and query resolve the ifindex in the calling thread's namespace.
  template <class F>
  auto in_ns(F&& f) {
    return ns_.netns().run(std::forward<F>(f));
  }

  PinnedFastPath fp_;
  ScopedNetns ns_;
  int ifindex_ = 0;
};

TEST_F(FastPathTest, OpenPodPinsFindsThePinsAndNothingInAnEmptyDir) {
  auto pins = open_pod_pins(fp_.fs.path());
  ASSERT_TRUE(pins) << pins.error().message();
  ASSERT_TRUE(pins->has_value());
  pn_pod v{};
  __u32 k = 0;
  auto lookup = map_lookup((*pins)->pods.get(), &k, &v);
  ASSERT_TRUE(lookup) << "the pinned pn_pods is open as a map: " << lookup.error().message();
  EXPECT_FALSE(*lookup);

  BpfFs empty;
  ASSERT_TRUE(empty.ok());
  auto none = open_pod_pins(empty.path());
  ASSERT_TRUE(none) << none.error().message();
  EXPECT_FALSE(none->has_value());
  auto missing_dir = open_pod_pins(empty.path() + "/not-there");
  ASSERT_TRUE(missing_dir) << missing_dir.error().message();
  EXPECT_FALSE(missing_dir->has_value());
}

TEST_F(FastPathTest, OpenPodPinsFailsOnSomethingThatIsNotAPin) {
  // A regular file where the pin should be is a real problem, not "fast path not loaded".
  podnet::testing::TempDir dir("pn-bpftest-file");
  std::ofstream(dir.path() + "/pn_pods") << "not a bpf object";
  auto pins = open_pod_pins(dir.path());
  ASSERT_FALSE(pins);
  EXPECT_NE(pins.error().code, 0);
  EXPECT_NE(pins.error().code, ENOENT);
  EXPECT_NE(pins.error().message().find(dir.path() + "/pn_pods"), std::string::npos)
      << pins.error().message();
}

TEST_F(FastPathTest, AddPodMapsIpv4RemovePodUnmaps) {
  auto pins = open_pod_pins(fp_.fs.path());
  ASSERT_TRUE(pins && *pins);
  const netlink::Mac mac{0x02, 0x11, 0x22, 0x33, 0x44, 0x55};
  std::vector<IpAddress> ips{*parse_ip("10.77.0.5"), *parse_ip("fd00:77::5"), *parse_ip("10.78.0.5")};

  auto added = add_pod(**pins, ifindex_, mac, ips);
  ASSERT_TRUE(added) << added.error().message();
  added = add_pod(**pins, ifindex_, mac, ips);  // a retried ADD
  ASSERT_TRUE(added) << added.error().message();

  for (const char* ip : {"10.77.0.5", "10.78.0.5"}) {
    pn_pod v{};
    auto k = key_of(ip);
    auto found = map_lookup(fp_.pods.get(), &k, &v);
    ASSERT_TRUE(found) << found.error().message();
    ASSERT_TRUE(*found) << ip;
    EXPECT_EQ(v.ifindex, static_cast<__u32>(ifindex_));
    EXPECT_EQ(std::memcmp(v.mac, mac.data(), 6), 0);
  }
  // Byte order: 10.77.0.5 is stored as the packet carries it, so its reverse is not there.
  pn_pod v{};
  __u32 reversed = __builtin_bswap32(key_of("10.77.0.5"));
  auto found = map_lookup(fp_.pods.get(), &reversed, &v);
  ASSERT_TRUE(found);
  EXPECT_FALSE(*found);

  auto removed = remove_pod(fp_.fs.path(), ips);
  ASSERT_TRUE(removed) << removed.error().message();
  for (const char* ip : {"10.77.0.5", "10.78.0.5"}) {
    auto k = key_of(ip);
    auto f = map_lookup(fp_.pods.get(), &k, &v);
    ASSERT_TRUE(f);
    EXPECT_FALSE(*f) << ip;
  }
  removed = remove_pod(fp_.fs.path(), ips);
  EXPECT_TRUE(removed) << "removing again is fine: " << removed.error().message();
}

TEST_F(FastPathTest, RemovePodWithoutPinsIsNothingToDo) {
  BpfFs empty;
  ASSERT_TRUE(empty.ok());
  auto s = remove_pod(empty.path(), {*parse_ip("10.77.0.9")});
  EXPECT_TRUE(s) << s.error().message();
}

TEST_F(FastPathTest, ErrorsNameWhatFailed) {
  auto pins = open_pod_pins(fp_.fs.path());
  ASSERT_TRUE(pins && *pins);
  pn_pod v{};
  auto k = key_of("10.77.0.6");
  // No object at all.
  auto id = prog_id(-1);
  ASSERT_FALSE(id);
  EXPECT_NE(id.error().code, 0);
  EXPECT_NE(id.error().message().find("fd -1"), std::string::npos) << id.error().message();

  // A program fd where a map is expected.
  auto u = map_update(fp_.prog.get(), &k, &v);
  ASSERT_FALSE(u);
  EXPECT_EQ(u.error().code, EINVAL) << u.error().message();
  EXPECT_NE(u.error().message().find("bpf map fd"), std::string::npos) << u.error().message();
}

}  // namespace
}  // namespace podnet::fastpath
