// The cluster layout (names, addresses, the record), the namespace selection of `down` and the
// views of `status`: pure logic, no root needed.
#include "cluster/layout.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "cluster/teardown.h"
#include "cluster/views.h"
#include "support/temp_dir.h"

namespace podnet::cluster {
namespace {

ClusterSpec spec(int nodes = 3) {
  ClusterSpec s;
  s.state_dir = "/var/lib/podnet/up";
  s.cid = "3f2a";
  s.underlay = parse_prefix("192.168.213.0/24").value();
  s.nodes = nodes;
  return s;
}

TEST(Layout, NamesAndAddressesFollowTheContract) {
  Layout l(spec());
  EXPECT_EQ(l.root_link(), "pnu3f2a");
  EXPECT_EQ(l.underlay_netns(), "pn-3f2a-underlay");
  EXPECT_EQ(l.gateway().str(), "192.168.213.1/24");
  EXPECT_EQ(l.lb_pool().str(), "192.168.213.240/28");
  EXPECT_EQ(l.node_name(2), "node2");
  EXPECT_EQ(l.node_netns(2), "pn-3f2a-node2");
  EXPECT_EQ(l.node_veth(2), "pn3f2an2");
  EXPECT_EQ(l.node_ip(2).str(), "192.168.213.12/24");
  EXPECT_EQ(l.node_kubeconfig(1), "/var/lib/podnet/up/nodes/node1/kubeconfig");
  EXPECT_EQ(l.admin_kubeconfig(), "/var/lib/podnet/up/server/admin.kubeconfig");
  EXPECT_EQ(l.server_url(), "https://192.168.213.1:6443");
  EXPECT_EQ(l.pid_path(Layout::agent_daemon("node3")), "/var/lib/podnet/up/pids/agent-node3.pid");
  EXPECT_EQ(l.log_path("server"), "/var/lib/podnet/up/logs/server.log");
  EXPECT_EQ(l.daemons(), (std::vector<std::string>{"server", "agent-node1", "agent-node2", "agent-node3"}));
  EXPECT_EQ(l.supervisor_pid_path("agent-node1"), "/var/lib/podnet/up/supervise/agent-node1.pid");
  EXPECT_EQ(l.supervisor_report_path("server"), "/var/lib/podnet/up/supervise/server.json");
  ClusterSpec without_agents = spec();
  without_agents.agents = false;
  EXPECT_EQ(Layout(without_agents).daemons(), std::vector<std::string>{"server"});
}

TEST(Layout, ValidateRejectsWhatCannotWork) {
  EXPECT_TRUE(validate(spec()));
  auto bad = [](auto change) {
    ClusterSpec s = spec();
    change(s);
    return !validate(s);
  };
  EXPECT_TRUE(bad([](ClusterSpec& s) { s.nodes = 0; }));
  EXPECT_TRUE(bad([](ClusterSpec& s) { s.nodes = 230; }));
  EXPECT_TRUE(bad([](ClusterSpec& s) { s.overlay = "flannel"; }));
  EXPECT_TRUE(bad([](ClusterSpec& s) { s.cid = "xyz1"; }));
  EXPECT_TRUE(bad([](ClusterSpec& s) { s.state_dir = "relative/dir"; }));
  EXPECT_TRUE(bad([](ClusterSpec& s) { s.underlay = parse_prefix("192.168.213.0/25").value(); }));
  EXPECT_TRUE(bad([](ClusterSpec& s) { s.underlay = parse_prefix("fd00::/64").value(); }));
  // Underlay inside the pod or service network: routes would collide inside every node.
  EXPECT_TRUE(bad([](ClusterSpec& s) { s.underlay = parse_prefix("10.244.7.0/24").value(); }));
  EXPECT_TRUE(bad([](ClusterSpec& s) { s.underlay = parse_prefix("10.0.0.0/8").value(); }));
  EXPECT_FALSE(bad([](ClusterSpec& s) { s.nodes = 229; }));
}

TEST(Layout, RecordRoundTripsAndRejectsGarbage) {
  ClusterSpec s = spec(2);
  s.overlay = "host-gw";
  s.api_port = 7443;
  s.fast_path = false;
  s.agents = false;
  s.dns = false;
  auto back = spec_from_json(to_json(s));
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_FALSE(back->fast_path);
  EXPECT_FALSE(back->agents);
  EXPECT_FALSE(back->dns);
  EXPECT_EQ(back->cid, "3f2a");
  EXPECT_EQ(back->nodes, 2);
  EXPECT_EQ(back->overlay, "host-gw");
  EXPECT_EQ(back->api_port, 7443);
  EXPECT_EQ(back->underlay.str(), "192.168.213.0/24");
  EXPECT_FALSE(spec_from_json("{}"));
  EXPECT_FALSE(spec_from_json("not json"));
  EXPECT_FALSE(spec_from_json(R"({"stateDir":"/x","clusterID":"../..","underlay":"192.168.1.0/24","nodes":1,
    "overlay":"vxlan","apiPort":6443,"clusterCIDR":"10.244.0.0/16","serviceCIDR":"10.96.0.0/12"})"));
  // A record from before the fast path (no "fastPath") reads as on; a non-boolean is refused.
  const std::string old = R"({"stateDir":"/x","clusterID":"3f2a","underlay":"192.168.1.0/24","nodes":1,
    "overlay":"vxlan","apiPort":6443,"clusterCIDR":"10.244.0.0/16","serviceCIDR":"10.96.0.0/12")";
  auto before = spec_from_json(old + "}");
  ASSERT_TRUE(before) << before.error().message();
  EXPECT_TRUE(before->fast_path);
  EXPECT_TRUE(before->agents);
  EXPECT_TRUE(before->dns);
  EXPECT_FALSE(spec_from_json(old + R"(,"fastPath":"yes"})"));
  EXPECT_FALSE(spec_from_json(old + R"(,"agents":1})"));
  EXPECT_FALSE(spec_from_json(old + R"(,"dns":"off"})"));
}

TEST(Layout, RecordIsWrittenOnlyOnce) {
  testing::TempDir dir("pn-layout");
  ClusterSpec s = spec();
  s.state_dir = dir.path();
  Layout l(s);
  auto none = load_record(dir.path());
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none);
  ASSERT_TRUE(write_record_exclusive(l));
  auto again = write_record_exclusive(l);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, EEXIST);
  auto loaded = load_record(dir.path());
  ASSERT_TRUE(loaded && *loaded);
  EXPECT_EQ((*loaded)->cid, "3f2a");
}

TEST(Layout, Overlaps) {
  auto p = [](const char* s) { return parse_prefix(s).value(); };
  EXPECT_TRUE(overlaps(p("192.168.0.0/16"), p("192.168.213.7/32")));
  EXPECT_TRUE(overlaps(p("192.168.213.0/24"), p("192.168.213.2/24")));
  EXPECT_FALSE(overlaps(p("192.168.213.0/24"), p("192.168.214.0/24")));
  EXPECT_FALSE(overlaps(p("192.168.213.0/24"), p("::/0")));
}

TEST(Teardown, SelectsOnlyTheClustersNamespacesPodsFirst) {
  Layout l(spec(2));
  std::vector<std::string> existing{
      "pn-3f2a-underlay",  "pn-3f2a-node1",     "pn-3f2a-node2",
      "pn-3f2a-node3",                           // no such node, but ours
      "pn-node1-0b1e5c3a", "pn-node2-ffffffff",  // second one: another cluster's pod
      "pn-3f2a-12345678",  "pn-beef-node1",     "cni-1234",      "pn-node1-custom"};
  std::vector<PodRecord> pods{{"node1", "0b1e5c3a-aaaa-bbbb-cccc-dddddddddddd", ""},
                              {"node1", "99999999-0000", "/var/run/netns/pn-node1-custom"}};
  auto got = cluster_netns(l, existing, pods);
  EXPECT_EQ(got, (std::vector<std::string>{"pn-3f2a-node3", "pn-node1-0b1e5c3a", "pn-3f2a-12345678",
                                           "pn-node1-custom", "pn-3f2a-node1", "pn-3f2a-node2",
                                           "pn-3f2a-underlay"}));
}

TEST(Views, DecodeNodesPodsServices) {
  auto nodes =
      boost::json::parse(R"({"items":[{"metadata":{"name":"node1"},"spec":{"podCIDR":"10.244.1.0/24"},
    "status":{"addresses":[{"type":"Hostname","address":"node1"},{"type":"InternalIP","address":"192.168.213.11"}],
    "conditions":[{"type":"Ready","status":"True"}]}},{"metadata":{"name":"node2"}}]})");
  auto n = node_views(nodes);
  ASSERT_EQ(n.size(), 2u);
  EXPECT_TRUE(n[0].ready);
  EXPECT_EQ(n[0].internal_ip, "192.168.213.11");
  EXPECT_EQ(n[0].pod_cidr, "10.244.1.0/24");
  EXPECT_FALSE(n[1].ready);

  auto pods = boost::json::parse(R"({"items":[{"metadata":{"namespace":"default","name":"web"},
    "spec":{"nodeName":"node1","containers":[{"name":"a"},{"name":"b"}]},
    "status":{"phase":"Running","podIP":"10.244.1.5","containerStatuses":[{"ready":true,"restartCount":2},
    {"ready":false,"restartCount":1}]}}]})");
  auto p = pod_views(pods);
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].node, "node1");
  EXPECT_EQ(p[0].ip, "10.244.1.5");
  EXPECT_EQ(p[0].ready, 1);
  EXPECT_EQ(p[0].containers, 2);
  EXPECT_EQ(p[0].restarts, 3);

  auto svcs = boost::json::parse(R"({"items":[{"metadata":{"namespace":"default","name":"web"},
    "spec":{"type":"LoadBalancer","clusterIP":"10.96.0.10","ports":[{"port":80,"nodePort":30080,"protocol":"TCP"},
    {"port":53,"protocol":"UDP"}]},"status":{"loadBalancer":{"ingress":[{"ip":"192.168.213.240"}]}}}]})");
  auto s = service_views(svcs);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].type, "LoadBalancer");
  EXPECT_EQ(s[0].ports, "80:30080/TCP,53/UDP");
  EXPECT_EQ(s[0].lb_ips, std::vector<std::string>{"192.168.213.240"});
}

}  // namespace
}  // namespace podnet::cluster
