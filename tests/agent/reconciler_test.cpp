// The reconciler against a fake kernel (no root): desired state from nodes, the diff against what
// the "kernel" already has, convergence without flushing, restarts, and LB owner choice.
#include "agent/reconciler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json.hpp>

#include "agent/lb.h"
#include "agent/node.h"
#include "common/time.h"

namespace podnet::agent {
namespace {

using netlink::Mac;

IpAddress ip(const char* s) {
  return *parse_ip(s);
}
IpPrefix pfx(const char* s) {
  return *parse_prefix(s);
}
Mac mac(uint8_t last) {
  return {0x02, 0, 0, 0, 0, last};
}

// A kernel as a NetState plus a log of every change made to it.
class FakeKernel : public NetKernel {
 public:
  NetState state;
  std::vector<std::string> log;
  std::optional<netlink::LinkInfo> vxlan;
  std::string masquerade;

  Result<netlink::LinkInfo> link_with_address(const IpAddress& a) override {
    if (a != ip("192.168.1.11")) return fail("no link", ENODEV);
    return netlink::LinkInfo{.index = 2, .name = "eth0", .mac = mac(0xee), .mtu = 1500, .up = true};
  }
  Result<std::optional<netlink::LinkInfo>> find_link(const std::string& name) override {
    return name == kVxlanDevice ? vxlan : std::nullopt;
  }
  Status create_vxlan(const netlink::VxlanSpec& s) override {
    log.push_back("create vxlan mtu " + std::to_string(s.mtu));
    vxlan = netlink::LinkInfo{.index = 7, .name = s.name, .kind = "vxlan", .mac = *s.mac, .mtu = s.mtu};
    return {};
  }
  Status delete_link(const std::string& name) override {
    log.push_back("delete link " + name);
    vxlan.reset();
    return {};
  }
  Status set_up(int) override {
    vxlan->up = true;
    return {};
  }
  Status set_mtu(int, unsigned mtu) override {
    vxlan->mtu = mtu;
    return {};
  }
  Result<NetState> observe(const Links&, const std::string& label) override {
    EXPECT_EQ(label, "eth0:pnlb");
    return state;
  }
  template <class T, class Eq>
  static void upsert(std::vector<T>& v, const T& x, Eq same) {
    auto it = std::find_if(v.begin(), v.end(), [&](const T& y) { return same(x, y); });
    if (it != v.end())
      *it = x;
    else
      v.push_back(x);
  }
  template <class T, class Eq>
  static Status erase(std::vector<T>& v, const T& x, Eq same) {
    auto it = std::find_if(v.begin(), v.end(), [&](const T& y) { return same(x, y); });
    if (it == v.end()) return fail("absent", ENOENT);
    v.erase(it);
    return {};
  }
  static bool same_dst(const netlink::RouteSpec& a, const netlink::RouteSpec& b) { return a.dst == b.dst; }
  static bool same_ip(const netlink::NeighSpec& a, const netlink::NeighSpec& b) { return a.ip == b.ip; }
  static bool same_mac(const netlink::NeighSpec& a, const netlink::NeighSpec& b) { return a.mac == b.mac; }

  Status replace_route(const netlink::RouteSpec& r) override {
    log.push_back("replace route " + r.dst.str());
    upsert(state.routes, r, same_dst);
    return {};
  }
  Status delete_route(const netlink::RouteSpec& r) override {
    log.push_back("delete route " + r.dst.str());
    return erase(state.routes, r, same_dst);
  }
  Status replace_neighbour(const netlink::NeighSpec& n) override {
    log.push_back("replace neigh " + n.ip->to_string());
    upsert(state.neighbours, n, same_ip);
    return {};
  }
  Status delete_neighbour(const netlink::NeighSpec& n) override {
    log.push_back("delete neigh " + n.ip->to_string());
    return erase(state.neighbours, n, same_ip);
  }
  Status replace_fdb(const netlink::NeighSpec& n) override {
    log.push_back("replace fdb " + netlink::format_mac(n.mac));
    upsert(state.fdb, n, same_mac);
    return {};
  }
  Status delete_fdb(const netlink::NeighSpec& n) override {
    log.push_back("delete fdb " + netlink::format_mac(n.mac));
    return erase(state.fdb, n, same_mac);
  }
  Status add_address(int ifindex, const IpPrefix& a, const std::string& label) override {
    log.push_back("add address " + a.str() + " label '" + label + "'");
    (ifindex == 7 ? state.vtep_addresses : state.lb_addresses).push_back(a);
    return {};
  }
  Status delete_address(int ifindex, const IpPrefix& a) override {
    log.push_back("delete address " + a.str());
    auto& v = ifindex == 7 ? state.vtep_addresses : state.lb_addresses;
    return erase(v, a, [](const IpPrefix& x, const IpPrefix& y) { return x == y; });
  }
  Status announce(int, const Mac&, const IpAddress& a) override {
    log.push_back("garp " + a.to_string());
    return {};
  }
  Status set_masquerade(const std::vector<IpPrefix>& pods, const std::vector<IpPrefix>& cluster) override {
    masquerade = masquerade_ruleset(pods, cluster);
    log.push_back("masquerade");
    return {};
  }
};

Peer peer(const char* name, const char* node_ip, const char* cidr, uint8_t m) {
  return {.name = name, .ip = ip(node_ip), .pod_cidrs = {pfx(cidr)}, .vtep_mac = mac(m)};
}

class ReconcilerTest : public ::testing::Test {
 protected:
  FakeKernel kernel;
  ReconcilerConfig cfg{
      .node_ip = ip("192.168.1.11"), .overlay = Overlay::kVxlan, .cluster_cidrs = {pfx("10.244.0.0/16")}};
  ClusterView view{.own_cidrs = {pfx("10.244.1.0/24")},
                   .peers = {peer("node2", "192.168.1.12", "10.244.2.0/24", 2),
                             peer("node3", "192.168.1.13", "10.244.3.0/24", 3)}};
};

TEST_F(ReconcilerTest, VxlanFromScratchThenNothingToDo) {
  Reconciler r(kernel, cfg);
  auto m = r.prepare(mac(0x11));
  ASSERT_TRUE(m) << m.error().message();
  EXPECT_EQ(*m, std::optional(mac(0x11)));  // the remembered MAC is used for a new device
  EXPECT_EQ(kernel.vxlan->mtu, 1450u);
  auto d = r.reconcile(view);
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_EQ(d->describe(),
            "+ route 10.244.2.0/24 via 10.244.2.0 dev #7 onlink\n"
            "+ route 10.244.3.0/24 via 10.244.3.0 dev #7 onlink\n"
            "+ neigh 10.244.2.0 lladdr 02:00:00:00:00:02\n"
            "+ neigh 10.244.3.0 lladdr 02:00:00:00:00:03\n"
            "+ fdb 02:00:00:00:00:02 dst 192.168.1.12\n"
            "+ fdb 02:00:00:00:00:03 dst 192.168.1.13\n"
            "+ vtep address 10.244.1.0/32\n");
  EXPECT_NE(kernel.masquerade.find("ip saddr 10.244.1.0/24 ip daddr != { 10.244.0.0/16 }"), std::string::npos)
      << kernel.masquerade;
  kernel.log.clear();
  auto again = r.reconcile(view);
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->empty()) << again->describe();
  EXPECT_TRUE(kernel.log.empty());  // masquerade not rewritten either
}

TEST_F(ReconcilerTest, RestartKeepsDeviceAndMacAndChangesOnlyTheDifference) {
  {
    Reconciler first(kernel, cfg);
    ASSERT_TRUE(first.prepare(std::nullopt));
    ASSERT_TRUE(first.reconcile(view));
  }
  Mac original = kernel.vxlan->mac;
  kernel.log.clear();
  // While "down", node3 left and node4 came; node2's VTEP MAC changed (its device was recreated).
  view.peers = {peer("node2", "192.168.1.12", "10.244.2.0/24", 0x22),
                peer("node4", "192.168.1.14", "10.244.4.0/24", 4)};
  Reconciler second(kernel, cfg);
  auto m = second.prepare(mac(0x99));  // an existing device wins over any MAC offered
  ASSERT_TRUE(m);
  EXPECT_EQ(**m, original);
  auto d = second.reconcile(view);
  ASSERT_TRUE(d);
  std::vector<std::string> want = {"masquerade",
                                   "replace fdb 02:00:00:00:00:22",
                                   "replace fdb 02:00:00:00:00:04",
                                   "replace neigh 10.244.2.0",
                                   "replace neigh 10.244.4.0",
                                   "replace route 10.244.4.0/24",
                                   "delete route 10.244.3.0/24",
                                   "delete neigh 10.244.3.0",
                                   "delete fdb 02:00:00:00:00:02",
                                   "delete fdb 02:00:00:00:00:03"};
  EXPECT_EQ(kernel.log, want);  // node2's route is untouched: no gap for its traffic
}

TEST_F(ReconcilerTest, EntriesRemovedBehindItsBackComeBack) {
  Reconciler r(kernel, cfg);
  ASSERT_TRUE(r.prepare(std::nullopt));
  ASSERT_TRUE(r.reconcile(view));
  kernel.state.routes.erase(kernel.state.routes.begin());
  kernel.state.fdb.pop_back();
  auto d = r.reconcile(view);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->describe(),
            "+ route 10.244.2.0/24 via 10.244.2.0 dev #7 onlink\n"
            "+ fdb 02:00:00:00:00:03 dst 192.168.1.13\n");
}

TEST_F(ReconcilerTest, HostGwRoutesViaNodeAndRemovesLeftoverVxlan) {
  {
    Reconciler v(kernel, cfg);
    ASSERT_TRUE(v.prepare(std::nullopt));
    ASSERT_TRUE(v.reconcile(view));
  }
  cfg.overlay = Overlay::kHostGw;
  Reconciler r(kernel, cfg);
  auto m = r.prepare(std::nullopt);
  ASSERT_TRUE(m);
  EXPECT_FALSE(*m);
  EXPECT_FALSE(kernel.vxlan);
  auto d = r.reconcile(view);
  ASSERT_TRUE(d);
  // The fake keeps the vxlan entries (a real kernel drops them with the device); routes move over.
  EXPECT_NE(d->describe().find("+ route 10.244.2.0/24 via 192.168.1.12 dev #2\n"), std::string::npos)
      << d->describe();
  EXPECT_NE(d->describe().find("- vtep address 10.244.1.0/32"), std::string::npos) << d->describe();
}

TEST_F(ReconcilerTest, PeersWithoutRangeOrMacGetNoRoute) {
  Reconciler r(kernel, cfg);
  ASSERT_TRUE(r.prepare(std::nullopt));
  view.peers.push_back({.name = "bare", .ip = ip("192.168.1.20")});
  Peer nomac = peer("nomac", "192.168.1.21", "10.244.9.0/24", 9);
  nomac.vtep_mac.reset();
  view.peers.push_back(nomac);
  auto d = r.reconcile(view);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->add.routes.size(), 2u);
}

TEST_F(ReconcilerTest, LoadBalancerAddressesAddedAnnouncedAndRemoved) {
  Reconciler r(kernel, cfg);
  ASSERT_TRUE(r.prepare(std::nullopt));
  view.lb_addresses = {ip("192.168.1.240"), ip("fd00::f0")};
  ASSERT_TRUE(r.reconcile(view));
  EXPECT_NE(std::find(kernel.log.begin(), kernel.log.end(), "add address 192.168.1.240/32 label 'eth0:pnlb'"),
            kernel.log.end());
  EXPECT_NE(std::find(kernel.log.begin(), kernel.log.end(), "garp 192.168.1.240"), kernel.log.end());
  // IPv6: a host address too, announced the same way (an unsolicited neighbour advertisement).
  EXPECT_NE(std::find(kernel.log.begin(), kernel.log.end(), "add address fd00::f0/128 label 'eth0:pnlb'"),
            kernel.log.end());
  EXPECT_NE(std::find(kernel.log.begin(), kernel.log.end(), "garp fd00::f0"), kernel.log.end());
  view.lb_addresses.clear();
  auto d = r.reconcile(view);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->describe(), "- lb address 192.168.1.240/32\n- lb address fd00::f0/128\n");
  EXPECT_TRUE(kernel.state.lb_addresses.empty());
}

TEST(LoadBalancerPool, OnlyAddressesInsideAPoolAreAnnounced) {
  auto svc = boost::json::parse(R"({"spec": {"type": "LoadBalancer"}, "status": {"loadBalancer": {"ingress": [
      {"ip": "192.168.1.241"}, {"ip": "192.168.1.1"}, {"ip": "fd00::f3"}, {"ip": "fd00::1"}, {"hostname": "x"},
      {"ip": "not-an-ip"}]}}})");
  auto ips = loadbalancer_ips(svc);
  ASSERT_EQ(ips.size(), 4u);
  std::vector<IpPrefix> pools{*parse_prefix("192.168.1.240/28"), *parse_prefix("fd00::f0/124")};
  std::vector<IpAddress> outside;
  EXPECT_EQ(inside_pools(ips, pools, outside), (std::vector<IpAddress>{ip("192.168.1.241"), ip("fd00::f3")}));
  EXPECT_EQ(outside, (std::vector<IpAddress>{ip("192.168.1.1"), ip("fd00::1")}));
  // No pool: nothing is announced (an agent on a real cluster is given none).
  outside.clear();
  EXPECT_TRUE(inside_pools(ips, {}, outside).empty());
  EXPECT_EQ(outside.size(), 4u);
}

TEST(LoadBalancerOwner, DeterministicAndMovesOnlyWhatItMust) {
  std::vector<std::string> nodes{"node1", "node2", "node3"};
  std::map<std::string, std::string> owner;
  std::map<std::string, int> per_node;
  for (int i = 0; i < 60; ++i) {
    IpAddress a = ip_add(ip("192.168.1.0"), i);
    owner[a.to_string()] = lb_owner(a, nodes);
    ++per_node[owner[a.to_string()]];
    std::vector<std::string> reversed(nodes.rbegin(), nodes.rend());
    EXPECT_EQ(lb_owner(a, reversed), owner[a.to_string()]);  // order of the list does not matter
  }
  EXPECT_EQ(per_node.size(), 3u);  // spread over every node
  std::vector<std::string> without2{"node1", "node3"};
  for (const auto& [a, o] : owner) {
    std::string now = lb_owner(*parse_ip(a), without2);
    if (o != "node2") {
      EXPECT_EQ(now, o) << a;  // only node2's addresses move
    }
    EXPECT_NE(now, "node2");
  }
  EXPECT_EQ(lb_owner(ip("10.0.0.1"), {}), "");
}

TEST(NodeDecode, FieldsReadinessAndTimes) {
  auto v = boost::json::parse(
      R"({"metadata":{"name":"node2","annotations":{"podnet.io/vtep-mac":"02:00:00:00:00:02"}},
    "spec":{"podCIDR":"10.244.2.0/24","podCIDRs":["10.244.2.0/24"]},
    "status":{"addresses":[{"type":"Hostname","address":"node2"},{"type":"InternalIP","address":"192.168.1.12"}],
              "conditions":[{"type":"Ready","status":"True","lastHeartbeatTime":"2025-03-04T05:06:07Z"}]}})");
  auto n = decode_node(v);
  ASSERT_TRUE(n) << n.error().message();
  EXPECT_EQ(n->internal_ip, ip("192.168.1.12"));
  EXPECT_EQ(n->pod_cidrs, std::vector{pfx("10.244.2.0/24")});
  EXPECT_EQ(n->vtep_mac, mac(2));
  ASSERT_TRUE(n->heartbeat);
  EXPECT_EQ(rfc3339(*n->heartbeat), "2025-03-04T05:06:07Z");
  using namespace std::chrono;
  EXPECT_TRUE(node_ready(*n, *n->heartbeat + seconds(19), seconds(20)));
  EXPECT_FALSE(node_ready(*n, *n->heartbeat + seconds(21), seconds(20)));
  EXPECT_EQ(rfc3339(*parse_rfc3339("2025-03-04T07:06:07.123+02:00")), "2025-03-04T05:06:07Z");
  EXPECT_FALSE(decode_node(boost::json::parse(R"({"metadata":{"name":"x"},"spec":{"podCIDR":"junk"}})")));
}

TEST(NodeObjects, StatusPatchAndCniConfig) {
  LocalNode me{.name = "node1", .ip = ip("192.168.1.11"), .overlay = Overlay::kVxlan, .vtep_mac = mac(1)};
  auto now = std::chrono::system_clock::now();
  auto status = status_patch(me, now, now, true);
  // What this agent posts is what every agent decodes.
  boost::json::value whole = node_object(me);
  whole.as_object()["status"] = status.at("status");
  auto n = decode_node(whole);
  ASSERT_TRUE(n) << n.error().message();
  EXPECT_EQ(n->internal_ip, me.ip);
  EXPECT_EQ(n->vtep_mac, me.vtep_mac);
  EXPECT_TRUE(node_ready(*n, now, std::chrono::seconds(20)));
  EXPECT_EQ(status.at("status").at("daemonEndpoints").at("kubeletEndpoint").at("Port"), 10250);
  // Network not ready yet: Ready=False with kubelet's reason, and no node counts it as Ready.
  auto not_ready = status_patch(me, now, now - std::chrono::seconds(5), false);
  const auto& cond = not_ready.at("status").at("conditions").at(0);
  EXPECT_EQ(cond.at("status"), "False");
  EXPECT_EQ(cond.at("reason"), "KubeletNotReady");
  EXPECT_EQ(cond.at("lastTransitionTime").as_string(), rfc3339(now - std::chrono::seconds(5)));
  whole.as_object()["status"] = not_ready.at("status");
  auto nr = decode_node(whole);
  ASSERT_TRUE(nr) << nr.error().message();
  EXPECT_FALSE(node_ready(*nr, now, std::chrono::seconds(20)));

  auto conf = boost::json::parse(cni_conflist(
      {.pod_cidr = pfx("10.244.1.0/24"), .mtu = 1450, .ipam_dir = "/s/ipam", .state_dir = "/s/cni-state"}));
  EXPECT_EQ(conf.at("cniVersion"), "1.1.0");
  const auto& p = conf.at("plugins").at(0);
  EXPECT_EQ(p.at("type"), "podnet");
  EXPECT_EQ(p.at("bridge"), "pnbr0");
  EXPECT_EQ(p.at("mtu"), 1450);
  EXPECT_EQ(p.at("ipMasq"), false);
  EXPECT_EQ(p.at("stateDir"), "/s/cni-state");
  EXPECT_EQ(p.at("ipam").at("dataDir"), "/s/ipam");
  EXPECT_EQ(p.at("ipam").at("ranges").at(0).at(0).at("subnet"), "10.244.1.0/24");
}

TEST(Masquerade, OnlyLeavingTheCluster) {
  std::string text = masquerade_ruleset({pfx("10.244.1.0/24")}, {pfx("10.244.0.0/16")});
  EXPECT_NE(
      text.find("add rule ip podnet-agent postrouting ip saddr 10.244.1.0/24 ip daddr != { 10.244.0.0/16 } "
                "ip daddr != 224.0.0.0/4 masquerade"),
      std::string::npos)
      << text;
  EXPECT_EQ(text.find("add rule ip6"), std::string::npos);  // no IPv6 range, no IPv6 rule
  EXPECT_NE(text.find("add table ip6 podnet-agent"), std::string::npos);
}

}  // namespace
}  // namespace podnet::agent
