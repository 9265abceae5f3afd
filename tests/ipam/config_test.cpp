#include <gtest/gtest.h>

#include "fixture.h"

namespace podnet::ipam::testing {
namespace {

struct DefaultsCase {
  std::string subnet, network, first, last, gateway;
};

TEST(RangeDefaults, FilledLikeHostLocal) {
  const DefaultsCase cases[] = {
      {"10.1.0.0/16", "10.1.0.0/16", "10.1.0.1", "10.1.255.254", "10.1.0.1"},
      {"10.1.2.3/24", "10.1.2.0/24", "10.1.2.1", "10.1.2.254", "10.1.2.1"},  // host bits dropped
      {"192.168.0.0/30", "192.168.0.0/30", "192.168.0.1", "192.168.0.2", "192.168.0.1"},
      {"fd00::/120", "fd00::/120", "fd00::1", "fd00::ff", "fd00::1"},  // no broadcast in IPv6
      {"fd00:1::5/126", "fd00:1::4/126", "fd00:1::5", "fd00:1::7", "fd00:1::5"},
  };
  for (const auto& c : cases) {
    Range r = range(c.subnet);
    EXPECT_EQ(r.first().to_string(), c.first) << c.subnet << " before canonicalize";
    ASSERT_TRUE(r.canonicalize()) << c.subnet;
    EXPECT_EQ(r.subnet.str(), c.network);
    EXPECT_EQ(r.range_start->to_string(), c.first) << c.subnet;
    EXPECT_EQ(r.range_end->to_string(), c.last) << c.subnet;
    EXPECT_EQ(r.gateway->to_string(), c.gateway) << c.subnet;
    EXPECT_TRUE(r.contains(ip(c.first)));
    EXPECT_TRUE(r.contains(ip(c.last)));
    EXPECT_FALSE(r.contains(r.subnet.addr));
  }
}

TEST(RangeDefaults, ExplicitValuesKept) {
  Range r = range("10.1.0.0/24", "10.1.0.10", "10.1.0.20", "10.1.0.254");
  ASSERT_TRUE(r.canonicalize());
  EXPECT_EQ(r.first().to_string(), "10.1.0.10");
  EXPECT_EQ(r.last().to_string(), "10.1.0.20");
  EXPECT_EQ(r.gateway->to_string(), "10.1.0.254");
  EXPECT_FALSE(r.contains(ip("10.1.0.9")));
  EXPECT_FALSE(r.contains(ip("10.1.0.21")));
  EXPECT_FALSE(r.contains(ip("fd00::10")));
}

struct RangeErrorCase {
  Range r;
  std::string message;
};

TEST(RangeCanonicalize, ErrorsNameTheField) {
  const RangeErrorCase cases[] = {
      {range("10.2.0.0/16", "10.1.0.1"), "rangeStart 10.1.0.1 not in subnet 10.2.0.0/16"},
      {range("10.2.0.0/16", nullptr, "10.3.0.1"), "rangeEnd 10.3.0.1 not in subnet 10.2.0.0/16"},
      {range("10.2.0.0/16", nullptr, nullptr, "10.9.0.1"), "gateway 10.9.0.1 not in subnet 10.2.0.0/16"},
      {range("10.2.0.0/16", "fd00::1"), "rangeStart fd00::1 not in subnet 10.2.0.0/16"},
      {range("fd00::/64", nullptr, nullptr, "10.0.0.1"), "gateway 10.0.0.1 not in subnet fd00::/64"},
      {range("10.2.0.0/16", "10.2.0.9", "10.2.0.8"), "rangeStart 10.2.0.9 is after rangeEnd 10.2.0.8"},
      {range("10.2.0.0/31"), "subnet: network 10.2.0.0/31 too small to allocate from"},
      {range("10.2.0.7/32"), "subnet: network 10.2.0.7/32 too small to allocate from"},
      {range("fd00::/127"), "subnet: network fd00::/127 too small to allocate from"},
  };
  for (const auto& c : cases) {
    Range r = c.r;
    auto s = r.canonicalize();
    ASSERT_FALSE(s) << c.message;
    EXPECT_EQ(s.error().message(), c.message);
    EXPECT_EQ(s.error().code, 0);
  }
}

struct ConfigErrorCase {
  std::string name;
  std::vector<RangeSet> sets;
  std::string message;
};

TEST(ConfigCanonicalize, ErrorsNameTheField) {
  const ConfigErrorCase cases[] = {
      {"net", {}, "ranges: no IP ranges specified"},
      {"net", {{}}, "ranges[0]: empty range set"},
      {"net",
       {{range("10.0.0.0/24")}, {range("10.1.0.0/16", "10.0.0.1")}},
       "ranges[1][0]: rangeStart 10.0.0.1 not in subnet 10.1.0.0/16"},
      {"net",
       {{range("10.0.0.0/24"), range("fd00::/64")}},
       "ranges[0]: mixed address families (10.0.0.0/24 and fd00::/64)"},
      {"net",
       {{range("10.0.0.0/24"), range("10.0.0.0/25")}},
       "ranges[0][0] 10.0.0.1-10.0.0.254 and ranges[0][1] 10.0.0.1-10.0.0.126 overlap"},
      {"net",
       {{range("10.0.0.0/24", "10.0.0.10", "10.0.0.20")}, {range("10.0.0.0/24", "10.0.0.20")}},
       "ranges[0][0] 10.0.0.10-10.0.0.20 and ranges[1][0] 10.0.0.20-10.0.0.254 overlap"},
      {"", {{range("10.0.0.0/24")}}, "name: network name is empty"},
      {"..", {{range("10.0.0.0/24")}}, "name: network name \"..\" cannot be used as a directory name"},
      {"a/b", {{range("10.0.0.0/24")}}, "name: network name \"a/b\" cannot be used as a directory name"},
  };
  for (const auto& c : cases) {
    Config cfg;
    cfg.network = c.name;
    cfg.ranges = c.sets;
    auto s = canonicalize(cfg);
    ASSERT_FALSE(s) << c.message;
    EXPECT_EQ(s.error().message(), c.message);
  }
}

TEST(ConfigCanonicalize, AcceptsDisjointRangesOfOneSubnet) {
  Config cfg;
  cfg.network = "net";
  cfg.ranges = {
      {range("10.0.0.0/24", "10.0.0.2", "10.0.0.9"), range("10.0.0.0/24", "10.0.0.10", "10.0.0.19")},
      {range("fd00::/64")}};
  ASSERT_TRUE(canonicalize(cfg));
  EXPECT_EQ(cfg.ranges[1][0].gateway->to_string(), "fd00::1");
}

using ConfigTest = IpamTest;

TEST_F(ConfigTest, AllocateRejectsBadConfigAndAttachment) {
  auto bad = config({{range("10.2.0.0/16", "10.1.0.1")}});
  auto r = allocate(bad, att("c1"), {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::kInvalidConfig);
  EXPECT_NE(r.error().error.message().find("rangeStart 10.1.0.1"), std::string::npos);

  auto good = config({{range("10.2.0.0/16")}});
  for (const auto& who : {att(""), att("c1", ""), att("c 1"), att("c1", "eth0\n")}) {
    auto a = allocate(good, who, {});
    ASSERT_FALSE(a) << who.container_id << "/" << who.ifname;
    EXPECT_EQ(a.error().kind, ErrorKind::kInvalidConfig);
  }
  EXPECT_TRUE(reservation_files().empty());
}

}  // namespace
}  // namespace podnet::ipam::testing
