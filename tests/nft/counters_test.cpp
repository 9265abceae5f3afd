// nft/counters.h: a table's named counters from one netlink dump, in a namespace of its own.
#include "nft/counters.h"

#include <gtest/gtest.h>
#include <linux/netfilter.h>

#include <string>

#include "netns_env.h"
#include "nft/nft.h"

namespace podnet::nft {
namespace {

class NftCounters : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(ns.ok());
    enter = std::make_unique<pntest::EnterNetns>(ns.name());
    ASSERT_TRUE(enter->ok());
  }
  void TearDown() override { enter.reset(); }

  pntest::Netns ns{pntest::unique_name("-cnt")};
  std::unique_ptr<pntest::EnterNetns> enter;
};

TEST_F(NftCounters, ReadsOneTablesCountersOnly) {
  auto nft = Nft::open();
  ASSERT_TRUE(nft) << nft.error().message();
  ASSERT_TRUE(
      nft->run("add table inet pncnt\n"
               "add counter inet pncnt deny-ingress { packets 7 bytes 420 }\n"
               "add counter inet pncnt r-12 { packets 3 bytes 180 }\n"
               "add quota inet pncnt q { over 1 mbytes }\n"
               "add table inet pnother\n"
               "add counter inet pnother r-99 { packets 1 bytes 60 }\n"
               "add table ip pncnt\n"
               "add counter ip pncnt r-13 { packets 1 bytes 60 }\n"));
  auto c = read_counter_objects(NFPROTO_INET, "pncnt");
  ASSERT_TRUE(c) << c.error().message();
  ASSERT_EQ(c->size(), 2u);
  EXPECT_EQ(c->at("deny-ingress").packets, 7u);
  EXPECT_EQ(c->at("deny-ingress").bytes, 420u);
  EXPECT_EQ(c->at("r-12").packets, 3u);
  EXPECT_EQ(c->at("r-12").bytes, 180u);
  auto ip = read_counter_objects(NFPROTO_IPV4, "pncnt");
  ASSERT_TRUE(ip) << ip.error().message();
  ASSERT_EQ(ip->size(), 1u);
  EXPECT_EQ(ip->at("r-13").packets, 1u);
}

TEST_F(NftCounters, NoTableIsNoCounters) {
  auto c = read_counter_objects(NFPROTO_INET, "pn-no-such-table");
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_TRUE(c->empty());
}

TEST_F(NftCounters, AgreesWithNftOnAThousandCounters) {
  // More than one netlink message's worth: the dump spans several reads.
  std::string script = "add table inet pnmany\n";
  for (int i = 0; i < 1000; ++i)
    script += "add counter inet pnmany r-" + std::to_string(i) + " { packets " + std::to_string(i) +
              " bytes " + std::to_string(60 * i) + " }\n";
  auto nft = Nft::open();
  ASSERT_TRUE(nft);
  ASSERT_TRUE(nft->run(script));
  auto c = read_counter_objects(NFPROTO_INET, "pnmany");
  ASSERT_TRUE(c) << c.error().message();
  ASSERT_EQ(c->size(), 1000u);
  for (int i : {0, 1, 500, 999}) {
    EXPECT_EQ(c->at("r-" + std::to_string(i)).packets, static_cast<uint64_t>(i));
    EXPECT_EQ(c->at("r-" + std::to_string(i)).bytes, static_cast<uint64_t>(60 * i));
  }
  EXPECT_NE(ns.out("nft list counter inet pnmany r-999").find("packets 999 bytes 59940"), std::string::npos);
}

}  // namespace
}  // namespace podnet::nft
