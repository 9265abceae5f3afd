// `podnet check`'s verdicts without a cluster: a healthy set of probe results passes every path;
// one broken thing at a time (a tunnel, a node's underlay, a node's proxy, NAT where there must be
// none, a policy not enforced) fails exactly the paths it breaks and names the hop; absent features
// are skipped with the reason.
#include "troubleshoot/check_report.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace podnet::troubleshoot {
namespace {

CheckPlan plan3() {
  CheckPlan p;
  p.ns = "podnet-check-abcdef";
  for (int i = 1; i <= 3; ++i) {
    std::string n = "node" + std::to_string(i);
    p.nodes.push_back({n, "192.168.5." + std::to_string(10 + i)});
    p.server_ip[n] = "10.244." + std::to_string(i) + ".2";
    p.client_ip[n] = "10.244." + std::to_string(i) + ".3";
  }
  p.cluster_ip = "10.96.0.50";
  p.outside_addr = "192.168.5.1:40000";
  p.node_port = 30080;
  p.local_node_port = 30081;
  p.lb_ip = "192.168.5.200";
  return p;
}

ProbeResult ok(const std::string& key, const std::string& answer, const std::string& address = "") {
  return {key, true, answer, address, 250, 1, ""};
}
ProbeResult bad(const std::string& key, const std::string& error) {
  return {key, false, "", "", 1000000, 30, error};
}

// What a healthy cluster answers to every target the plan gives.
CheckResults healthy(const CheckPlan& p) {
  CheckResults r;
  r.outside_local_addr = "192.168.5.1";
  for (const auto& n : p.nodes) {
    const std::string self = p.client_ip.at(n.name);
    size_t k = 0;
    for (const auto& t : client_targets(p, n.name)) {
      if (t.key == "c2c")
        r.client[n.name].push_back(ok(t.key, "peer 127.0.0.1"));
      else if (t.key.starts_with("pod:"))
        r.client[n.name].push_back(ok(t.key, "srv-" + t.key.substr(4) + " " + self));
      else if (t.key.starts_with("cip:"))
        r.client[n.name].push_back(ok(t.key, "srv-" + p.nodes[k++ % p.nodes.size()].name + " " + self));
      else if (t.key == "dns")
        r.client[n.name].push_back(ok(t.key, "srv-node1 " + self, p.cluster_ip));
      else if (t.key == "egress")
        r.client[n.name].push_back(ok(t.key, "outside " + n.ip));
      else if (t.key == "deny")
        r.client[n.name].push_back({t.key, true, "", "", 1000000, 1, "connect: timed out (dropped?)"});
    }
    for (const auto& t : node_targets(p, n.name))
      r.node[n.name].push_back(ok(t.key, "srv-" + t.key.substr(4) + " " + n.ip));
  }
  for (const auto& t : outside_targets(p)) {
    std::string node = t.key.substr(t.key.find(':') + 1);
    if (t.key.starts_with("local:"))
      r.outside.push_back(ok(t.key, "srv-" + node + " 192.168.5.1"));
    else
      r.outside.push_back(ok(t.key, "srv-node2 192.168.5.12"));
  }
  return r;
}

void set(CheckResults& r, const std::string& node, const std::string& key, ProbeResult v) {
  for (auto& x : r.client[node])
    if (x.key == key) x = v;
}

std::vector<CheckRow> failures(const CheckPlan& p, const CheckResults& r) {
  auto rows = judge(p, r);
  diagnose(p, rows);
  std::vector<CheckRow> f;
  for (const auto& row : rows)
    if (row.verdict == Verdict::kFail) f.push_back(row);
  return f;
}

std::string dump(const std::vector<CheckRow>& rows) {
  return format_table(rows);
}

TEST(CheckReport, HealthyClusterPassesEveryPath) {
  auto p = plan3();
  auto rows = judge(p, healthy(p));
  // Per client node: c2c, 3 pod-to-pod, ClusterIP, DNS, egress, deny; spread; 3x3 node-to-pod;
  // NodePort and Local per node; LB.
  EXPECT_EQ(rows.size(), 3u * 8 + 1 + 9 + 6 + 1) << dump(rows);
  for (const auto& r : rows)
    EXPECT_EQ(r.verdict, Verdict::kPass) << r.path << " " << r.from << " " << r.detail;
  auto j = boost::json::parse(format_json(p, rows, 4.2));
  EXPECT_EQ(j.at("passed"), true);
  EXPECT_EQ(j.at("results").as_array().size(), rows.size());
  // Three client pods each make 12 connections to the ClusterIP (4 per node).
  size_t cip = 0;
  for (const auto& t : client_targets(p, "node1")) cip += t.key.starts_with("cip:");
  EXPECT_EQ(cip, 12u);
}

TEST(CheckReport, OneTunnelDownNamesItsTwoEnds) {
  auto p = plan3();
  auto r = healthy(p);
  set(r, "node1", "pod:node2", bad("pod:node2", "connect: timed out (dropped?)"));
  auto f = failures(p, r);
  ASSERT_EQ(f.size(), 1u) << dump(f);
  EXPECT_EQ(f[0].path, "pod-to-pod across nodes");
  EXPECT_EQ(f[0].hop, "tunnel node1 -> node2");
  EXPECT_NE(f[0].cause.find("tunnel map entry for node2 on node1"), std::string::npos);
}

TEST(CheckReport, ANodeCutOffIsNamedAsItsUnderlay) {
  auto p = plan3();
  auto r = healthy(p);
  for (const std::string n : {"node1", "node2"}) set(r, n, "pod:node3", bad("pod:node3", "timed out"));
  for (const std::string m : {"node1", "node2"}) set(r, "node3", "pod:" + m, bad("pod:" + m, "timed out"));
  for (auto& x : r.outside)
    if (x.key == "np:node3") x = bad(x.key, "connect: timed out (dropped?)");
  for (auto& x : r.node["node1"])
    if (x.key == "pod:node3") x = bad(x.key, "connect: timed out (dropped?)");
  auto f = failures(p, r);
  ASSERT_EQ(f.size(), 6u) << dump(f);
  for (const auto& row : f) EXPECT_EQ(row.hop, "underlay node3") << dump(f);
}

TEST(CheckReport, ClusterIpFailingWhilePodsAnswerIsTheProxy) {
  auto p = plan3();
  auto r = healthy(p);
  for (auto& x : r.client["node2"])
    if (x.key.starts_with("cip:")) x = bad(x.key, "connect: timed out (dropped?)");
  for (auto& x : r.client["node2"])
    if (x.key == "dns") x = bad("dns", "connect: timed out (dropped?)");
  auto f = failures(p, r);
  ASSERT_EQ(f.size(), 2u) << dump(f);
  EXPECT_EQ(f[0].path, "pod-to-ClusterIP");
  EXPECT_EQ(f[0].hop, "service proxy on node2");
  EXPECT_NE(f[0].detail.find("0/12 answered"), std::string::npos) << f[0].detail;
  EXPECT_EQ(f[1].path, "pod-to-Service by DNS name");
  EXPECT_NE(f[1].cause.find("ClusterIP itself fails"), std::string::npos);
}

TEST(CheckReport, NatOnPodToPodAndNoMasqueradeOnEgressFail) {
  auto p = plan3();
  auto r = healthy(p);
  set(r, "node1", "pod:node3", ok("pod:node3", "srv-node3 192.168.5.11"));
  set(r, "node2", "egress", ok("egress", "outside 10.244.2.3"));
  auto f = failures(p, r);
  ASSERT_EQ(f.size(), 2u) << dump(f);
  EXPECT_NE(f[0].detail.find("the server saw 192.168.5.11, not 10.244.1.3"), std::string::npos)
      << f[0].detail;
  EXPECT_EQ(f[1].hop, "masquerade on node2");
  EXPECT_NE(f[1].cause.find("without masquerade"), std::string::npos);
}

TEST(CheckReport, PolicyNotEnforcedAndLocalPolicyLosingTheClientFail) {
  auto p = plan3();
  auto r = healthy(p);
  set(r, "node3", "deny", {"deny", false, "srv-node3 10.244.3.3", "", 300, 30, ""});
  for (auto& x : r.outside)
    if (x.key == "local:node1") x = ok(x.key, "srv-node1 192.168.5.11");
  auto f = failures(p, r);
  ASSERT_EQ(f.size(), 2u) << dump(f);
  EXPECT_EQ(f[0].hop, "policy on node3");
  EXPECT_EQ(f[1].path, "externalTrafficPolicy Local");
  EXPECT_EQ(f[1].hop, "service proxy on node1");
  EXPECT_NE(f[1].cause.find("rewritten"), std::string::npos);
}

TEST(CheckReport, AbsentFeaturesAreSkippedWithTheirReasonAndAMissingPodFails) {
  auto p = plan3();
  p.dns = {false, "no Service kube-system/kube-dns"};
  p.policy = {false, "not served"};
  p.outside = {false, "loopback"};
  p.lb = {false, "no ingress IP"};
  auto r = healthy(p);
  r.client.erase("node2");
  r.missing["client/node2"] = "not done after 60 s: Pending";
  auto rows = judge(p, r);
  diagnose(p, rows);
  int skipped = 0, failed = 0;
  for (const auto& row : rows) {
    if (row.verdict == Verdict::kSkip) {
      ++skipped;
      EXPECT_TRUE(row.detail.starts_with("skipped: ")) << row.detail;
    }
    if (row.verdict == Verdict::kFail) {
      ++failed;
      EXPECT_NE(row.detail.find("not done after 60 s: Pending"), std::string::npos);
      EXPECT_EQ(row.hop, "pods on node2");
    }
  }
  EXPECT_EQ(skipped, 2 * 3 + 1);  // DNS, egress, policy of the two reporting clients; LB
  EXPECT_EQ(failed, 1);
  for (const auto& t : client_targets(p, "node1"))
    EXPECT_TRUE(t.key != "dns" && t.key != "egress" && t.key != "deny");
}

}  // namespace
}  // namespace podnet::troubleshoot
