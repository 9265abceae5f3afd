#include <gtest/gtest.h>

#include <set>

#include "fixture.h"

namespace podnet::ipam::testing {
namespace {

using AllocTest = IpamTest;

TEST_F(AllocTest, Ipv4FirstAddressSkipsGateway) {
  auto c = config({{range("10.1.0.0/24")}});
  auto r = allocate(c, att("c1"), {});
  ASSERT_TRUE(r) << r.error().error.message();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].address.str(), "10.1.0.2/24");
  ASSERT_TRUE((*r)[0].gateway);
  EXPECT_EQ((*r)[0].gateway->to_string(), "10.1.0.1");
  EXPECT_EQ(alloc1(c, att("c2")), "10.1.0.3/24");
  EXPECT_EQ(reservation_files(), (std::vector<std::string>{"10.1.0.2", "10.1.0.3"}));
}

TEST_F(AllocTest, Ipv6) {
  auto c = config({{range("fd00:10::/64")}});
  EXPECT_EQ(alloc1(c, att("c1")), "fd00:10::2/64");
  EXPECT_EQ(alloc1(c, att("c2")), "fd00:10::3/64");
  EXPECT_EQ(reservation_files(), (std::vector<std::string>{"fd00:10::2", "fd00:10::3"}));
}

TEST_F(AllocTest, DualStackGivesOneAddressPerRangeSet) {
  auto c = config({{range("10.1.0.0/24")}, {range("fd00::/64")}});
  auto r = allocate(c, att("c1"), {});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].address.str(), "10.1.0.2/24");
  EXPECT_EQ((*r)[0].gateway->to_string(), "10.1.0.1");
  EXPECT_EQ((*r)[1].address.str(), "fd00::2/64");
  EXPECT_EQ((*r)[1].gateway->to_string(), "fd00::1");
  auto held = addresses_of(c, att("c1"));
  ASSERT_TRUE(held);
  ASSERT_EQ(held->size(), 2u);
  EXPECT_EQ((*held)[0].to_string(), "10.1.0.2");
  EXPECT_EQ((*held)[1].to_string(), "fd00::2");
}

struct ExhaustCase {
  Range r;
  std::vector<std::string> expected;  // every address handed out, in order
};

TEST_F(AllocTest, NeverGivesGatewayNetworkOrBroadcast) {
  const ExhaustCase cases[] = {
      {range("10.1.0.0/29"), {"10.1.0.2", "10.1.0.3", "10.1.0.4", "10.1.0.5", "10.1.0.6"}},
      {range("10.1.0.0/29", "10.1.0.0", "10.1.0.7", "10.1.0.3"),
       {"10.1.0.1", "10.1.0.2", "10.1.0.4", "10.1.0.5", "10.1.0.6"}},
      {range("10.1.0.0/30"), {"10.1.0.2"}},
      {range("fd00::/125", "fd00::", "fd00::7"),
       {"fd00::2", "fd00::3", "fd00::4", "fd00::5", "fd00::6", "fd00::7"}},
      {range("10.1.0.0/24", "10.1.0.10", "10.1.0.12"), {"10.1.0.10", "10.1.0.11", "10.1.0.12"}},
  };
  int n = 0;
  for (const auto& tc : cases) {
    auto c = config({{tc.r}});
    c.network = "n" + std::to_string(n++);
    std::vector<std::string> got;
    for (int i = 0; i < 20; ++i) {
      auto r = allocate(c, att("c" + std::to_string(i)), {});
      if (!r) {
        EXPECT_EQ(r.error().kind, ErrorKind::kExhausted) << r.error().error.message();
        break;
      }
      got.push_back((*r)[0].address.addr.to_string());
    }
    EXPECT_EQ(got, tc.expected) << tc.r.subnet.str();
    auto free = has_free_addresses(c);
    ASSERT_TRUE(free);
    EXPECT_FALSE(*free);
  }
}

TEST_F(AllocTest, MultipleRangesInASetAreTriedInOrder) {
  auto c = config({{range("10.1.0.0/30"), range("10.2.0.0/24", "10.2.0.100", "10.2.0.101")}});
  auto first = allocate(c, att("c1"), {});
  ASSERT_TRUE(first);
  EXPECT_EQ((*first)[0].address.str(), "10.1.0.2/30");
  EXPECT_EQ((*first)[0].gateway->to_string(), "10.1.0.1");
  auto second = allocate(c, att("c2"), {});
  ASSERT_TRUE(second);
  EXPECT_EQ((*second)[0].address.str(), "10.2.0.100/24");
  EXPECT_EQ((*second)[0].gateway->to_string(), "10.2.0.1");
  EXPECT_EQ(alloc1(c, att("c3")), "10.2.0.101/24");
  auto none = allocate(c, att("c4"), {});
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().kind, ErrorKind::kExhausted);
  EXPECT_EQ(none.error().error.message(),
            "no IP addresses available in range set: 10.1.0.1-10.1.0.2,10.2.0.100-10.2.0.101");
  // Round-robin wraps from the last range back to the first.
  ASSERT_TRUE(release(c, att("c1")));
  EXPECT_EQ(alloc1(c, att("c5")), "10.1.0.2/30");
}

TEST_F(AllocTest, RoundRobinDoesNotReuseFreedAddressAtOnce) {
  auto c = config({{range("10.1.0.0/24", "10.1.0.2", "10.1.0.5")}});
  EXPECT_EQ(alloc1(c, att("a")), "10.1.0.2/24");
  EXPECT_EQ(alloc1(c, att("b")), "10.1.0.3/24");
  ASSERT_TRUE(release(c, att("a")));
  EXPECT_EQ(alloc1(c, att("c")), "10.1.0.4/24");
  EXPECT_EQ(alloc1(c, att("d")), "10.1.0.5/24");
  EXPECT_EQ(alloc1(c, att("e")), "10.1.0.2/24");  // wrapped
  ASSERT_TRUE(release(c, att("c")));
  EXPECT_EQ(alloc1(c, att("f")), "10.1.0.4/24");  // skips taken .3
  EXPECT_EQ(read("last_reserved_ip.0"), "10.1.0.4");
}

TEST_F(AllocTest, RequestedAddressIsHonoured) {
  auto c = config({{range("10.1.0.0/24")}, {range("fd00::/64")}});
  auto got = alloc(c, att("c1"), {ip("10.1.0.50")});
  EXPECT_EQ(got, (std::vector<std::string>{"10.1.0.50/24", "fd00::2/64"}));
  got = alloc(c, att("c2"), {ip("fd00::99"), ip("10.1.0.51")});
  EXPECT_EQ(got, (std::vector<std::string>{"10.1.0.51/24", "fd00::99/64"}));
  // The requested address moves the round-robin start like in host-local.
  EXPECT_EQ(alloc(c, att("c3")), (std::vector<std::string>{"10.1.0.52/24", "fd00::9a/64"}));
}

TEST_F(AllocTest, RequestedAddressTakenIsUnavailable) {
  auto c = config({{range("10.1.0.0/24")}, {range("fd00::/64")}});
  alloc(c, att("c1"), {ip("10.1.0.5")});
  auto before = reservation_files();
  auto r = allocate(c, att("c2"), {ip("10.1.0.5")});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::kRequestedUnavailable);
  EXPECT_EQ(r.error().error.message(),
            "requested IP address 10.1.0.5 is not available in range set 10.1.0.1-10.1.0.254");
  EXPECT_EQ(reservation_files(), before);
  EXPECT_TRUE(addresses_of(c, att("c2"))->empty());

  r = allocate(c, att("c2"), {ip("10.1.0.1")});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::kRequestedUnavailable);
  EXPECT_NE(r.error().error.message().find("10.1.0.1 is the gateway"), std::string::npos);
}

TEST_F(AllocTest, RequestedAddressOutOfRange) {
  auto c = config({{range("10.1.0.0/24", "10.1.0.10", "10.1.0.20")}});
  for (const char* req : {"10.9.0.5", "10.1.0.9", "10.1.0.255", "fd00::5"}) {
    auto r = allocate(c, att("c1"), {ip(req)});
    ASSERT_FALSE(r) << req;
    EXPECT_EQ(r.error().kind, ErrorKind::kRequestedOutOfRange);
    EXPECT_NE(r.error().error.message().find(std::string("requested IP address ") + req), std::string::npos)
        << r.error().error.message();
  }
  auto two = allocate(c, att("c1"), {ip("10.1.0.11"), ip("10.1.0.12")});
  ASSERT_FALSE(two);
  EXPECT_EQ(two.error().kind, ErrorKind::kRequestedOutOfRange);
  EXPECT_TRUE(reservation_files().empty());
}

TEST_F(AllocTest, ExhaustionLeavesNothingReserved) {
  auto c = config({{range("fd00::/64")}, {range("10.1.0.0/24", "10.1.0.2", "10.1.0.3")}});
  alloc(c, att("a"));
  alloc(c, att("b"));
  auto before = reservation_files();
  ASSERT_EQ(before.size(), 4u);
  auto r = allocate(c, att("c"), {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::kExhausted);
  EXPECT_EQ(r.error().error.message(), "no IP addresses available in range set: 10.1.0.2-10.1.0.3");
  // The IPv6 address reserved for set 0 before set 1 failed was given back.
  EXPECT_EQ(reservation_files(), before);
  EXPECT_EQ(index_files().size(), 2u);
  EXPECT_TRUE(addresses_of(c, att("c"))->empty());
  // The same holds for a requested address in a set before the failing one.
  r = allocate(c, att("c"), {ip("fd00::77")});
  ASSERT_FALSE(r);
  EXPECT_EQ(reservation_files(), before);
}

TEST_F(AllocTest, SecondAllocationForAnAttachmentIsRejected) {
  auto c = config({{range("10.1.0.0/24")}});
  alloc1(c, att("c1"));
  auto before = reservation_files();
  for (const auto& req : {std::vector<IpAddress>{}, std::vector<IpAddress>{ip("10.1.0.9")}}) {
    auto r = allocate(c, att("c1"), req);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::kAlreadyAllocated);
    EXPECT_EQ(
        r.error().error.message(),
        "10.1.0.2 has been allocated to container c1 interface eth0, duplicate allocation is not allowed");
  }
  EXPECT_EQ(reservation_files(), before);
  // Another interface of the same container is another attachment.
  EXPECT_EQ(alloc1(c, att("c1", "net1")), "10.1.0.3/24");
}

TEST_F(AllocTest, ReleaseIsIdempotentAndFreesEverything) {
  auto c = config({{range("10.1.0.0/24")}, {range("fd00::/64")}});
  // Nothing exists yet: no error and no directory created.
  ASSERT_TRUE(release(c, att("c1")));
  EXPECT_FALSE(std::filesystem::exists(net_dir()));
  alloc(c, att("c1"));
  alloc(c, att("c2"));
  ASSERT_TRUE(release(c, att("c1")));
  ASSERT_TRUE(release(c, att("c1")));
  EXPECT_EQ(reservation_files(), (std::vector<std::string>{"10.1.0.3", "fd00::3"}));
  EXPECT_EQ(index_files(), (std::vector<std::string>{"c2:eth0"}));
  EXPECT_TRUE(addresses_of(c, att("c1"))->empty());
  ASSERT_TRUE(release(c, att("c2")));
  EXPECT_TRUE(reservation_files().empty());
  EXPECT_TRUE(index_files().empty());
  // Released, so allocatable again.
  EXPECT_EQ(alloc(c, att("c1")).size(), 2u);
}

TEST_F(AllocTest, AddressesOf) {
  auto c = config({{range("10.1.0.0/24")}, {range("fd00::/64")}});
  EXPECT_TRUE(addresses_of(c, att("c1"))->empty());
  alloc(c, att("c1"), {ip("fd00::abcd")});
  alloc(c, att("c2"));
  auto held = addresses_of(c, att("c2"));
  ASSERT_TRUE(held);
  ASSERT_EQ(held->size(), 2u);
  EXPECT_EQ((*held)[0].to_string(), "10.1.0.3");
  EXPECT_EQ((*held)[1].to_string(), "fd00::abce");
  EXPECT_TRUE(addresses_of(c, att("c2", "eth1"))->empty());
}

TEST_F(AllocTest, HasFreeAddresses) {
  auto c = config({{range("10.1.0.0/24", "10.1.0.2", "10.1.0.3")}, {range("fd00::/64")}});
  EXPECT_TRUE(*has_free_addresses(c));
  alloc(c, att("a"));
  EXPECT_TRUE(*has_free_addresses(c));
  alloc(c, att("b"));
  EXPECT_FALSE(*has_free_addresses(c));
  ASSERT_TRUE(release(c, att("a")));
  EXPECT_TRUE(*has_free_addresses(c));
}

TEST_F(AllocTest, NetworksAreIndependent) {
  auto c1 = config({{range("10.1.0.0/24")}});
  auto c2 = c1;
  c2.network = "net2";
  EXPECT_EQ(alloc1(c1, att("c1")), "10.1.0.2/24");
  EXPECT_EQ(alloc1(c2, att("c1")), "10.1.0.2/24");
}

}  // namespace
}  // namespace podnet::ipam::testing
