#include "common/ip.h"

#include <gtest/gtest.h>

namespace podnet {
namespace {

TEST(IpPrefix, ParsesAndNormalizes) {
  auto p = parse_prefix("10.22.3.7/16");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->str(), "10.22.3.7/16");
  EXPECT_EQ(p->network().str(), "10.22.0.0/16");
  EXPECT_EQ(p->last().to_string(), "10.22.255.255");
  EXPECT_TRUE(p->contains(*parse_ip("10.22.200.1")));
  EXPECT_FALSE(p->contains(*parse_ip("10.23.0.1")));
  EXPECT_FALSE(p->contains(*parse_ip("fd00::1")));
}

TEST(IpPrefix, Ipv6) {
  auto p = parse_prefix("fd00:1:2::5/64");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->network().str(), "fd00:1:2::/64");
  EXPECT_EQ(p->last().to_string(), "fd00:1:2:0:ffff:ffff:ffff:ffff");
  EXPECT_EQ(ip_add(p->network().addr, 1).to_string(), "fd00:1:2::1");
}

TEST(IpPrefix, RejectsBadInput) {
  for (const char* bad :
       {"10.0.0.0", "10.0.0.0/33", "10.0.0/8", "fd00::/129", "x/8", "10.0.0.0/-1", "10.0.0.0/8x"})
    EXPECT_FALSE(parse_prefix(bad)) << bad;
}

TEST(IpArithmetic, StepsAcrossOctets) {
  auto a = *parse_ip("10.0.0.255");
  EXPECT_EQ(ip_add(a, 1).to_string(), "10.0.1.0");
  EXPECT_EQ(ip_add(a, -255).to_string(), "10.0.0.0");
  EXPECT_EQ(ip_compare(*parse_ip("10.0.0.2"), *parse_ip("10.0.0.10")), std::strong_ordering::less);
  EXPECT_EQ(ip_compare(*parse_ip("fd00::1"), *parse_ip("10.0.0.10")), std::strong_ordering::greater);
}

}  // namespace
}  // namespace podnet
