// Behaviour of hostPort mappings and ipMasq with real traffic (socat) between namespaces. Every
// test builds its own node/pods/outside namespaces (topology.h) and uses its own table name and
// state directory; the library runs on the test thread inside the node namespace.
#include "nft/portmap.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <optional>

#include "topology.h"

namespace podnet::nft {
namespace {

using pntest::echo_server;
using pntest::tcp_ask;
using pntest::udp_ask;

PortMapping tcp(uint16_t host, uint16_t container) {
  return PortMapping{host, container, "tcp", std::nullopt};
}

class PortmapTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(topo.ok()) << "could not build the test namespaces";
    enter = std::make_unique<pntest::EnterNetns>(topo.node->name());
    ASSERT_TRUE(enter->ok());
    auto n = Nft::open();
    ASSERT_TRUE(n) << n.error().message();
    nft.emplace(std::move(*n));
    store.table = pntest::unique_name("test");
    store.state_dir = "/var/tmp/" + pntest::unique_name("-nft-state");
  }
  void TearDown() override {
    nft.reset();
    enter.reset();
    std::filesystem::remove_all(store.state_dir);
  }

  // Pod A is 10.88.0.2 (and fd88::2 with v6), pod B 10.88.0.3.
  PodRules pod(char which, std::vector<PortMapping> maps, bool masq = false, bool v6 = false) {
    std::string last = which == 'a' ? "2" : "3";
    PodRules r;
    r.who = {std::string("ctr-") + which, "eth0"};
    r.pod_ips.push_back(*parse_prefix("10.88.0." + last + "/24"));
    if (v6) r.pod_ips.push_back(*parse_prefix("fd88::" + last + "/64"));
    r.port_mappings = std::move(maps);
    r.ip_masq = masq;
    r.bridge = "pnbr0";
    return r;
  }
  void add(const PodRules& r) {
    auto s = add_pod_rules(*nft, store, r);
    ASSERT_TRUE(s) << s.error().message();
  }
  std::string listing(const char* family = "ip") {
    return topo.node->out(std::string("nft list table ") + family + " " + store.table + " 2>&1");
  }
  // The pod's rules plus macspoofchk on its bridge port, with the MAC its eth0 has now.
  PodRules spoof_checked(PodRules r, const std::string& port, const pntest::Netns& pod_ns) {
    r.mac_spoof_check = MacSpoofCheck{port, pod_ns.out("cat /sys/class/net/eth0/address")};
    return r;
  }
  // Any of three echoes answered (one alone can be lost to ARP on a loaded machine); where frames
  // must be dropped, three chances to slip through make the check stricter, not weaker.
  static bool pings(const pntest::Netns& from, const std::string& to) {
    return from.run("ping -c3 -i0.2 -W1 " + to + " >/dev/null 2>&1") == 0;
  }
  // A pod taking another MAC; everyone forgets the old one, so only the check can stop its frames.
  void change_mac(const pntest::Netns& pod_ns, const std::string& mac) {
    ASSERT_EQ(pod_ns.run("ip link set eth0 address " + mac), 0);
    for (const pntest::Netns* ns : {topo.node.get(), topo.pod_a.get(), topo.pod_b.get()})
      ASSERT_EQ(ns->run("ip neigh flush all"), 0);
  }

  pntest::Topology topo;
  std::unique_ptr<pntest::EnterNetns> enter;
  std::optional<Nft> nft;
  PortmapStore store;
};

TEST_F(PortmapTest, NodeReachesHostPortOnItsAddressesAndLocalhost) {
  auto server = echo_server(*topo.pod_a, "tcp4", 80);
  add(pod('a', {tcp(8080, 80)}));
  EXPECT_EQ(tcp_ask(*topo.node, "192.168.77.1", 8080), "192.168.77.1");
  EXPECT_EQ(tcp_ask(*topo.node, "10.88.0.1", 8080), "10.88.0.1");
  // 127.0.0.1 needs route_localnet on the bridge and a masquerade of the 127/8 source.
  EXPECT_EQ(tcp_ask(*topo.node, "127.0.0.1", 8080), "10.88.0.1");
  EXPECT_EQ(topo.node->out("cat /proc/sys/net/ipv4/conf/pnbr0/route_localnet"), "1");
}

TEST_F(PortmapTest, OutsideReachesHostPortWithItsOwnSourceAddress) {
  auto server = echo_server(*topo.pod_a, "tcp4", 80);
  add(pod('a', {tcp(8080, 80)}));
  EXPECT_EQ(tcp_ask(*topo.outside, "192.168.77.1", 8080), "192.168.77.2");
  EXPECT_EQ(tcp_ask(*topo.outside, "192.168.77.10", 8080), "192.168.77.2");
  EXPECT_EQ(tcp_ask(*topo.outside, "192.168.77.1", 8081), "");
}

TEST_F(PortmapTest, HairpinFromThePodItselfAndFromANeighbour) {
  auto server = echo_server(*topo.pod_a, "tcp4", 80);
  add(pod('a', {tcp(8080, 80)}));
  EXPECT_EQ(tcp_ask(*topo.pod_a, "192.168.77.1", 8080), "10.88.0.1");
  EXPECT_EQ(tcp_ask(*topo.pod_a, "10.88.0.1", 8080), "10.88.0.1");
  EXPECT_EQ(tcp_ask(*topo.pod_b, "192.168.77.1", 8080), "10.88.0.1");
  // Only hostPort connections are masqueraded: B talking to A directly keeps its address.
  EXPECT_EQ(tcp_ask(*topo.pod_b, "10.88.0.2", 80), "10.88.0.3");
}

TEST_F(PortmapTest, UdpMapping) {
  auto server = echo_server(*topo.pod_a, "udp4", 5353);
  add(pod('a', {PortMapping{5300, 5353, "udp", std::nullopt}}));
  EXPECT_EQ(udp_ask(*topo.outside, "192.168.77.1", 5300), "192.168.77.2");
  EXPECT_EQ(udp_ask(*topo.pod_b, "10.88.0.1", 5300), "10.88.0.1");
  EXPECT_EQ(tcp_ask(*topo.outside, "192.168.77.1", 5300), "");  // the protocol is part of the key
}

TEST_F(PortmapTest, HostIpMappingOnlyAnswersOnThatAddress) {
  auto server = echo_server(*topo.pod_a, "tcp4", 80);
  add(pod('a', {PortMapping{8080, 80, "tcp", *parse_ip("192.168.77.10")}}));
  EXPECT_EQ(tcp_ask(*topo.outside, "192.168.77.10", 8080), "192.168.77.2");
  EXPECT_EQ(tcp_ask(*topo.outside, "192.168.77.1", 8080), "");
  EXPECT_EQ(tcp_ask(*topo.node, "10.88.0.1", 8080), "");
  // The local route of a secondary address prefers the primary one as source.
  EXPECT_EQ(tcp_ask(*topo.node, "192.168.77.10", 8080), "192.168.77.1");
  EXPECT_EQ(tcp_ask(*topo.pod_b, "192.168.77.10", 8080), "10.88.0.1");
}

TEST_F(PortmapTest, DeleteRemovesExactlyOneAttachment) {
  auto server_a = echo_server(*topo.pod_a, "tcp4", 80);
  auto server_b = echo_server(*topo.pod_b, "tcp4", 80);
  add(pod('a', {tcp(8080, 80), tcp(8443, 80)}, true));
  add(pod('b', {tcp(8081, 80)}, true));
  ASSERT_TRUE(has_pod_rules(store, {"ctr-a", "eth0"}));

  auto s = delete_pod_rules(*nft, store, {"ctr-a", "eth0"});
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_FALSE(has_pod_rules(store, {"ctr-a", "eth0"}));
  EXPECT_EQ(tcp_ask(*topo.outside, "192.168.77.1", 8080), "");
  EXPECT_EQ(tcp_ask(*topo.outside, "192.168.77.1", 8081), "192.168.77.2");
  std::string l = listing();
  EXPECT_EQ(l.find("ctr-a"), std::string::npos) << l;
  EXPECT_NE(l.find("ctr-b/eth0"), std::string::npos) << l;

  // Twice, and for an attachment that never existed: no-ops.
  EXPECT_TRUE(delete_pod_rules(*nft, store, {"ctr-a", "eth0"}));
  EXPECT_TRUE(delete_pod_rules(*nft, store, {"ctr-never", "eth0"}));
  EXPECT_EQ(tcp_ask(*topo.outside, "192.168.77.1", 8081), "192.168.77.2");
}

TEST_F(PortmapTest, GcKeepsValidAttachmentsOnly) {
  auto server_b = echo_server(*topo.pod_b, "tcp4", 80);
  add(pod('a', {tcp(8080, 80)}, true));
  add(pod('b', {tcp(8081, 80)}));
  auto s = gc_pod_rules(*nft, store, {{"ctr-b", "eth0"}});
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_FALSE(has_pod_rules(store, {"ctr-a", "eth0"}));
  EXPECT_TRUE(has_pod_rules(store, {"ctr-b", "eth0"}));
  std::string l = listing();
  EXPECT_EQ(l.find("ctr-a"), std::string::npos) << l;
  EXPECT_EQ(tcp_ask(*topo.outside, "192.168.77.1", 8081), "192.168.77.2");
  // Nothing stale left: a second GC with the same set is a no-op.
  EXPECT_TRUE(gc_pod_rules(*nft, store, {{"ctr-b", "eth0"}}));
  EXPECT_TRUE(has_pod_rules(store, {"ctr-b", "eth0"}));
}

TEST_F(PortmapTest, HostPortConflictFailsAndLeavesNothing) {
  auto server_a = echo_server(*topo.pod_a, "tcp4", 80);
  add(pod('a', {tcp(8080, 80)}));
  auto s = add_pod_rules(*nft, store, pod('b', {tcp(9090, 80), tcp(8080, 80)}, true));
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, EEXIST);
  EXPECT_NE(s.error().message().find("tcp . 8080"), std::string::npos) << s.error().message();
  EXPECT_NE(s.error().message().find("ctr-a/eth0"), std::string::npos) << s.error().message();
  EXPECT_FALSE(has_pod_rules(store, {"ctr-b", "eth0"}));
  std::string l = listing();
  EXPECT_EQ(l.find("ctr-b"), std::string::npos) << l;
  EXPECT_EQ(l.find("9090"), std::string::npos) << l;
  EXPECT_EQ(tcp_ask(*topo.outside, "192.168.77.1", 8080), "192.168.77.2");
  // The same host port on a specific host IP is a different key (the host-IP map wins there).
  EXPECT_TRUE(
      add_pod_rules(*nft, store, pod('b', {PortMapping{8080, 80, "tcp", *parse_ip("192.168.77.10")}})));
}

TEST_F(PortmapTest, IpMasqHidesPodAddressOutsideItsSubnetOnly) {
  auto outside_server = echo_server(*topo.outside, "tcp4", 9000);
  auto server_b = echo_server(*topo.pod_b, "tcp4", 80);
  add(pod('a', {}, true));
  EXPECT_EQ(tcp_ask(*topo.pod_a, "192.168.77.2", 9000), "192.168.77.1");
  EXPECT_EQ(tcp_ask(*topo.pod_a, "10.88.0.3", 80), "10.88.0.2");
  // Without ipMasq the outside host cannot answer (it has no route to the pods).
  EXPECT_EQ(tcp_ask(*topo.pod_b, "192.168.77.2", 9000), "");
  ASSERT_TRUE(delete_pod_rules(*nft, store, {"ctr-a", "eth0"}));
  EXPECT_EQ(tcp_ask(*topo.pod_a, "192.168.77.2", 9000), "");
}

TEST_F(PortmapTest, Ipv6MappingsGoToTheIp6Table) {
  auto server4 = echo_server(*topo.pod_a, "tcp4", 80);
  auto server6 = echo_server(*topo.pod_a, "tcp6", 80);
  add(pod('a', {tcp(8080, 80)}, false, true));
  EXPECT_NE(listing("ip6").find("fd88::2 . 80"), std::string::npos) << listing("ip6");
  // socat prints IPv6 peers in full.
  EXPECT_EQ(tcp_ask(*topo.outside, "fd77::1", 8080), "[fd77:0000:0000:0000:0000:0000:0000:0002]");
  EXPECT_EQ(tcp_ask(*topo.pod_b, "fd77::1", 8080), "[fd88:0000:0000:0000:0000:0000:0000:0001]");  // hairpin
  EXPECT_EQ(tcp_ask(*topo.pod_a, "fd88::1", 8080), "[fd88:0000:0000:0000:0000:0000:0000:0001]");
  EXPECT_EQ(tcp_ask(*topo.node, "fd77::1", 8080), "[fd77:0000:0000:0000:0000:0000:0000:0001]");
  EXPECT_EQ(tcp_ask(*topo.outside, "192.168.77.1", 8080), "192.168.77.2");
}

TEST_F(PortmapTest, RepeatedAddReplacesTheAttachment) {
  auto server = echo_server(*topo.pod_a, "tcp4", 80);
  add(pod('a', {tcp(8080, 80)}));
  add(pod('a', {tcp(8082, 80)}));
  EXPECT_EQ(tcp_ask(*topo.outside, "192.168.77.1", 8080), "");
  EXPECT_EQ(tcp_ask(*topo.outside, "192.168.77.1", 8082), "192.168.77.2");
}

// A DEL retried after a crash between its commit and the removal of its record finds its
// elements gone, and one of its host ports may meanwhile belong to another pod: that one stays.
TEST_F(PortmapTest, RetriedDeleteSparesAHostPortTakenSince) {
  auto server_b = echo_server(*topo.pod_b, "tcp4", 80);
  add(pod('a', {tcp(8080, 80), tcp(8443, 443)}, true));
  std::string record = store.state_dir + "/" + store.table + "/ctr-a_eth0";
  std::filesystem::copy_file(record, record + ".saved");
  ASSERT_TRUE(delete_pod_rules(*nft, store, {"ctr-a", "eth0"}));
  std::filesystem::rename(record + ".saved", record);  // as if the DEL died before removing it
  add(pod('b', {tcp(8080, 80)}));

  auto s = delete_pod_rules(*nft, store, {"ctr-a", "eth0"});
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_FALSE(has_pod_rules(store, {"ctr-a", "eth0"}));
  EXPECT_EQ(tcp_ask(*topo.outside, "192.168.77.1", 8080), "192.168.77.2");
  EXPECT_NE(listing().find("ctr-b/eth0"), std::string::npos);
}

TEST_F(PortmapTest, RemoveAllLeavesNoTableAndNoState) {
  add(pod('a', {tcp(8080, 80)}, true, true));
  ASSERT_NE(topo.node->out("nft list tables").find("table ip6 " + store.table), std::string::npos);
  auto s = remove_all(*nft, store);
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(topo.node->out("nft list tables").find(store.table), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(store.state_dir + "/" + store.table));
  EXPECT_TRUE(remove_all(*nft, store));  // again: nothing to do
}

// Nothing outside our own tables changes: another table in the same namespace stays identical.
TEST_F(PortmapTest, OnlyOwnTablesAreTouched) {
  ASSERT_EQ(topo.node->run(
                "nft 'add table inet pnother; add chain inet pnother c { type filter hook input priority 0; "
                "policy accept; }; add rule inet pnother c tcp dport 22 accept'"),
            0);
  std::string before = topo.node->out("nft list table inet pnother");
  add(pod('a', {tcp(8080, 80)}, true, true));
  add(pod('b', {tcp(8081, 80)}, true));
  std::string tables = topo.node->out("nft list tables");
  EXPECT_EQ(tables, "table inet pnother\ntable ip " + store.table + "\ntable ip6 " + store.table);
  ASSERT_TRUE(delete_pod_rules(*nft, store, {"ctr-a", "eth0"}));
  ASSERT_TRUE(gc_pod_rules(*nft, store, {}));
  ASSERT_TRUE(remove_all(*nft, store));
  EXPECT_EQ(topo.node->out("nft list tables"), "table inet pnother");
  EXPECT_EQ(topo.node->out("nft list table inet pnother"), before);
}

// macspoofchk: pod A's frames must carry its own MAC; pod B is not checked.
TEST_F(PortmapTest, MacSpoofCheckDropsFramesFromAnotherMac) {
  add(spoof_checked(pod('a', {}), "pnva", *topo.pod_a));
  EXPECT_TRUE(pings(*topo.pod_a, "10.88.0.1")) << "its own MAC passes";
  EXPECT_TRUE(pings(*topo.pod_b, "10.88.0.2"));
  std::string l = listing("bridge");
  EXPECT_NE(l.find("\"pnva\" comment \"ctr-a/eth0\""), std::string::npos) << l;
  EXPECT_NE(l.find("iifname @macspoof-checked iifname . ether saddr != @macspoof-allowed drop"),
            std::string::npos)
      << l;

  change_mac(*topo.pod_a, "02:00:00:00:aa:01");
  change_mac(*topo.pod_b, "02:00:00:00:bb:01");
  EXPECT_FALSE(pings(*topo.pod_a, "10.88.0.1")) << "A's frames with another MAC are dropped";
  EXPECT_FALSE(pings(*topo.pod_b, "10.88.0.2")) << "A's answers too";
  EXPECT_TRUE(pings(*topo.pod_b, "10.88.0.1")) << "B is not checked";

  ASSERT_TRUE(delete_pod_rules(*nft, store, {"ctr-a", "eth0"}));
  l = listing("bridge");
  EXPECT_EQ(l.find("pnva"), std::string::npos) << l;
  EXPECT_EQ(l.find("ctr-a"), std::string::npos) << l;
  EXPECT_TRUE(pings(*topo.pod_a, "10.88.0.1")) << "no check after DEL";
}

TEST_F(PortmapTest, MacSpoofCheckClashesGcAndRemoveAll) {
  add(spoof_checked(pod('a', {}, true), "pnva", *topo.pod_a));
  add(spoof_checked(pod('b', {}), "pnvb", *topo.pod_b));
  // Another attachment cannot claim B's port: a port's elements belong to one attachment only.
  PodRules c = spoof_checked(pod('b', {}), "pnvb", *topo.pod_b);
  c.who = {"ctr-c", "eth0"};
  auto clash = add_pod_rules(*nft, store, c);
  ASSERT_FALSE(clash);
  EXPECT_EQ(clash.error().code, EEXIST);
  EXPECT_NE(clash.error().message().find("macspoofchk of interface \"pnvb\" is already used by ctr-b/eth0"),
            std::string::npos)
      << clash.error().message();
  EXPECT_FALSE(has_pod_rules(store, c.who));

  ASSERT_TRUE(gc_pod_rules(*nft, store, {{"ctr-b", "eth0"}}));
  std::string l = listing("bridge");
  EXPECT_EQ(l.find("pnva"), std::string::npos) << l;
  EXPECT_EQ(l.find("ctr-a"), std::string::npos) << l;
  EXPECT_EQ(l.find("ctr-c"), std::string::npos) << l;
  EXPECT_NE(l.find("\"pnvb\" comment \"ctr-b/eth0\""), std::string::npos) << l;
  change_mac(*topo.pod_a, "02:00:00:00:aa:02");
  change_mac(*topo.pod_b, "02:00:00:00:bb:02");
  EXPECT_TRUE(pings(*topo.pod_a, "10.88.0.1")) << "A's check went with GC";
  EXPECT_FALSE(pings(*topo.pod_b, "10.88.0.1")) << "B's stays";

  ASSERT_TRUE(remove_all(*nft, store));
  EXPECT_EQ(topo.node->out("nft list tables"), "");
}

TEST_F(PortmapTest, RejectsBadInput) {
  auto bad_proto = add_pod_rules(*nft, store, pod('a', {PortMapping{80, 80, "icmp", std::nullopt}}));
  ASSERT_FALSE(bad_proto);
  EXPECT_EQ(bad_proto.error().code, EINVAL);
  EXPECT_FALSE(add_pod_rules(*nft, store, pod('a', {tcp(0, 80)})));
  EXPECT_FALSE(
      add_pod_rules(*nft, store, pod('a', {tcp(80, 80), tcp(80, 81)})));  // one host port, two targets
  PodRules bad_id = pod('a', {tcp(80, 80)});
  bad_id.who.container_id = "../x";
  EXPECT_FALSE(add_pod_rules(*nft, store, bad_id));
  PortmapStore bad_table = store;
  bad_table.table = "x; flush ruleset";
  EXPECT_FALSE(add_pod_rules(*nft, bad_table, pod('a', {tcp(80, 80)})));
  EXPECT_EQ(topo.node->out("nft list tables"), "");
}

}  // namespace
}  // namespace podnet::nft
