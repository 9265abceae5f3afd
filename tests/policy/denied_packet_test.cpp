// The denied-connection log's packet decoder (untrusted bytes from NFLOG): prefixes, IPv4 and
// IPv6 headers, ports, and what it refuses.
#include "policy/denied_packet.h"

#include <gtest/gtest.h>

#include <vector>

namespace podnet::policy {
namespace {

std::vector<uint8_t> ipv4(uint8_t proto, uint16_t sport, uint16_t dport, uint16_t frag = 0) {
  std::vector<uint8_t> p = {0x45,
                            0,
                            0,
                            40,
                            0,
                            0,
                            static_cast<uint8_t>(frag >> 8),
                            static_cast<uint8_t>(frag),
                            64,
                            proto,
                            0,
                            0,
                            10,
                            244,
                            0,
                            5,
                            10,
                            244,
                            0,
                            3};
  p.insert(p.end(), {static_cast<uint8_t>(sport >> 8), static_cast<uint8_t>(sport),
                     static_cast<uint8_t>(dport >> 8), static_cast<uint8_t>(dport)});
  return p;
}

TEST(DeniedPacket, DecodesIpv4Ports) {
  auto d = decode_denied("podnet-policy egress ", ipv4(6, 43210, 80));
  ASSERT_TRUE(d);
  EXPECT_EQ(d->direction, "egress");
  EXPECT_EQ(d->src.to_string(), "10.244.0.5");
  EXPECT_EQ(d->dst.to_string(), "10.244.0.3");
  EXPECT_EQ(protocol_name(d->protocol), "tcp");
  EXPECT_EQ(d->sport, 43210);
  EXPECT_EQ(d->dport, 80);
  auto u = decode_denied("podnet-policy ingress ", ipv4(17, 5353, 53));
  ASSERT_TRUE(u);
  EXPECT_EQ(u->direction, "ingress");
  EXPECT_EQ(u->dport, 53);
}

TEST(DeniedPacket, DecodesIpv6) {
  std::vector<uint8_t> p = {0x60, 0, 0, 0, 0, 20, 132, 64};
  for (int i = 0; i < 32; ++i) p.push_back(i == 15 ? 1 : i == 31 ? 2 : 0xfd * (i == 0 || i == 16));
  p.insert(p.end(), {0x04, 0xd2, 0x00, 0x51});
  auto d = decode_denied("podnet-policy ingress ", p);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->src.to_string(), "fd00::1");
  EXPECT_EQ(d->dst.to_string(), "fd00::2");
  EXPECT_EQ(protocol_name(d->protocol), "sctp");
  EXPECT_EQ(d->sport, 1234);
  EXPECT_EQ(d->dport, 81);
}

TEST(DeniedPacket, NoPortsWhereThereAreNone) {
  auto icmp = decode_denied("podnet-policy egress ", ipv4(1, 0x0800, 0x1234));
  ASSERT_TRUE(icmp);
  EXPECT_EQ(icmp->dport, 0);
  EXPECT_EQ(protocol_name(icmp->protocol), "icmp");
  auto frag = decode_denied("podnet-policy egress ", ipv4(6, 1, 2, 0x0010));  // a later fragment
  ASSERT_TRUE(frag);
  EXPECT_EQ(frag->dport, 0);
  auto header_only = ipv4(6, 1, 2);
  header_only.resize(22);  // the ports cut short
  ASSERT_TRUE(decode_denied("podnet-policy egress ", header_only));
  EXPECT_EQ(decode_denied("podnet-policy egress ", header_only)->dport, 0);
}

TEST(DeniedPacket, RefusesForeignPrefixesAndBrokenHeaders) {
  EXPECT_FALSE(decode_denied("someone-else ", ipv4(6, 1, 2)));
  EXPECT_FALSE(decode_denied("podnet-policy sideways ", ipv4(6, 1, 2)));
  EXPECT_FALSE(decode_denied("podnet-policy egress ", {}));
  auto p = ipv4(6, 1, 2);
  p.resize(19);
  EXPECT_FALSE(decode_denied("podnet-policy egress ", p));
  p = ipv4(6, 1, 2);
  p[0] = 0x4f;  // IHL 60 bytes, more than there is
  EXPECT_FALSE(decode_denied("podnet-policy egress ", p));
  p[0] = 0x44;  // IHL 16: below the minimum
  EXPECT_FALSE(decode_denied("podnet-policy egress ", p));
  p[0] = 0x55;  // not IPv4 or IPv6
  EXPECT_FALSE(decode_denied("podnet-policy egress ", p));
  std::vector<uint8_t> v6(39, 0);
  v6[0] = 0x60;
  EXPECT_FALSE(decode_denied("podnet-policy egress ", v6));
}

}  // namespace
}  // namespace podnet::policy
