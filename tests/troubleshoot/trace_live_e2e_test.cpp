// `podnet trace --live` on a 2-node vxlan `podnet up` cluster (fast path and NetworkPolicy on, the
// defaults) through the real binary, asserting on its JSON: one probe per trace, sent as the
// client pod from a fresh source port, and evidence about THAT probe (its source port) from each
// node on the path: pod to pod on one node, across nodes, to a ClusterIP (the service proxy's
// DNAT seen), and to a pod a deny-all policy isolates on the other node: lost at the destination's
// veth, last seen on the way there, with the policy table's drop and the kernel's drop reason; and
// with the wire between the nodes cut for VXLAN, lost at the tunnel.
// A caller without the right to exec into the source pod is refused before anything is sent, and
// no trace table or drop-watch program is left on any node.
#include <bpf/bpf.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdlib>
#include <cstring>

#include "common/files.h"
#include "support/kubectl.h"
#include "support/temp_dir.h"
#include "support/up_cluster.h"

namespace podnet::testing {
namespace {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  return s;
}

json::object pod(const std::string& name, const std::string& role, const std::string& node, bool serve) {
  json::object c{
      {"name", "main"},
      {"image", "unused"},
      {"command", json::array{"sh", "-c",
                              serve ? "exec socat TCP-LISTEN:80,fork,reuseaddr,backlog=64 EXEC:true"
                                    : "exec sleep 3600"}}};
  if (serve) c["readinessProbe"] = {{"tcpSocket", {{"port", 80}}}, {"periodSeconds", 1}};
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", {{"name", name}, {"namespace", "lv"}, {"labels", {{"role", role}}}}},
          {"spec",
           {{"nodeName", node},
            {"terminationGracePeriodSeconds", 1},
            {"containers", json::array{std::move(c)}}}}};
}

// Loaded BPF programs named like the drop watch's (the kernel keeps 15 characters of the name).
int drop_watch_programs() {
  int n = 0;
  for (uint32_t id = 0; bpf_prog_get_next_id(id, &id) == 0;) {
    int fd = bpf_prog_get_fd_by_id(id);
    if (fd < 0) continue;
    bpf_prog_info info{};
    uint32_t len = sizeof info;
    if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0 && std::strncmp(info.name, "pn_drop_watch", 13) == 0)
      ++n;
    ::close(fd);
  }
  return n;
}

class TraceLiveE2E : public ::testing::Test {
 protected:
  struct Run {
    int rc = -1;
    json::value doc;
    std::string out;
    double wall_ms = 0;
  };
  Run trace(const std::string& args, const std::string& kubeconfig = "") {
    auto start = Clock::now();
    auto r = shell(podnet_bin() + " trace --live -o json --kubeconfig " +
                   (kubeconfig.empty() ? c_.kubeconfig() : kubeconfig) + " " + args + " 2>&1");
    Run run;
    run.wall_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    run.rc = r.rc;
    run.out = r.out;
    json::error_code ec;
    run.doc = json::parse(r.out, ec);
    if (std::getenv("PN_LIVE_VERBOSE")) std::printf("%s\n", r.out.c_str());
    if (!ec && run.doc.is_object())
      std::printf("podnet trace --live %s: %s, %.0f ms wall\n", args.c_str(),
                  std::string(run.doc.at("result").as_string()).c_str(), run.wall_ms);
    return run;
  }
  static const json::value* hop(const Run& r, const std::string& name) {
    if (!r.doc.is_object()) return nullptr;
    for (const auto& h : r.doc.at("hops").as_array())
      if (h.at("hop").as_string() == name) return &h;
    return nullptr;
  }
  static bool all_seen(const Run& r) {
    if (!r.doc.is_object()) return false;
    for (const auto& h : r.doc.at("hops").as_array())
      if (!h.at("live").at("seen").as_bool()) return false;
    return true;
  }
  // The probe's source port, and whether `node` reported evidence carrying it.
  static std::string sport(const Run& r) {
    std::string src(r.doc.at("live").at("probe").at("src").as_string());
    return src.substr(src.rfind(':') + 1);
  }
  static bool node_saw_probe(const Run& r, const std::string& node) {
    const auto& nodes = r.doc.at("live").at("nodes").as_object();
    if (!nodes.contains(node)) return false;
    const std::string port = sport(r);
    const auto& n = nodes.at(node).as_object();
    for (const char* what : {"nftrace", "flows", "drops"}) {
      if (!n.contains(what)) continue;
      for (const auto& e : n.at(what).as_array()) {
        std::string s = json::serialize(e);
        if (s.find(":" + port + "\"") != std::string::npos ||
            s.find("\"sport\":" + port) != std::string::npos ||
            s.find("\"dport\":" + port) != std::string::npos)
          return true;
      }
    }
    return false;
  }
  UpCluster c_;
};

TEST_F(TraceLiveE2E, OneProbeSeenHopByHopAndLostAtThePolicy) {
  if (!have_agent()) GTEST_SKIP() << "podnet agent is not in this build";
  if (std::string why = kubectl_missing(); !why.empty()) GTEST_SKIP() << why;
  auto up = c_.up(2, "--overlay vxlan --timeout 120");
  ASSERT_EQ(up.rc, 0) << up.out;
  json::object svc{{"apiVersion", "v1"},
                   {"kind", "Service"},
                   {"metadata", {{"name", "web"}, {"namespace", "lv"}}},
                   {"spec", {{"selector", {{"role", "far"}}}, {"ports", json::array{{{"port", 80}}}}}}};
  json::object deny{
      {"apiVersion", "networking.k8s.io/v1"},
      {"kind", "NetworkPolicy"},
      {"metadata", {{"name", "deny"}, {"namespace", "lv"}}},
      {"spec",
       {{"podSelector", {{"matchLabels", {{"role", "locked"}}}}}, {"policyTypes", json::array{"Ingress"}}}}};
  json::array items{json::object{{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "lv"}}}},
                    pod("cli", "cli", "node1", false),
                    pod("srv", "srv", "node1", true),
                    pod("far", "far", "node2", true),
                    pod("locked", "locked", "node2", true),
                    svc,
                    deny};
  TempDir dir("pn-live");
  ASSERT_TRUE(write_file_atomic(
      dir.path() + "/objs.json",
      json::serialize(json::object{{"apiVersion", "v1"}, {"kind", "List"}, {"items", items}})));
  auto applied = c_.kubectl("apply -f " + dir.path() + "/objs.json");
  ASSERT_EQ(applied.rc, 0) << applied.out;
  auto w = c_.kubectl("wait -n lv --for=condition=Ready --timeout=60s pod/cli pod/srv pod/far pod/locked");
  ASSERT_EQ(w.rc, 0) << w.out;
  const auto test_start = Clock::now();

  // 1. Pod to pod on one node.
  auto same = trace("lv/cli lv/srv --port 80");
  ASSERT_EQ(same.rc, 0) << same.out;
  EXPECT_EQ(same.doc.at("result"), "delivered") << same.out;
  EXPECT_EQ(same.doc.at("live").at("probe").at("outcome").at("result"), "connected") << same.out;
  EXPECT_TRUE(all_seen(same)) << same.out;
  EXPECT_TRUE(node_saw_probe(same, "node1")) << same.out;
  // The counters the trace reports moved with the probe: the fast path's, when it carried it.
  const auto* fp = hop(same, "fast path");
  ASSERT_NE(fp, nullptr) << same.out;
  if (fp->at("evidence").at("enabled").as_bool() &&
      json::serialize(fp->at("live").at("evidence")).find("fastpath-local") != std::string::npos) {
    const auto& moved = fp->at("live").at("counters_moved").as_object();
    ASSERT_TRUE(moved.contains("stats.to_local_pod")) << json::serialize(*fp);
    EXPECT_GE(moved.at("stats.to_local_pod").to_number<double>(), 1) << json::serialize(*fp);
  }

  // 2. Across nodes: node2 reports the same probe (its source port) arriving.
  auto across = trace("lv/cli lv/far --port 80");
  ASSERT_EQ(across.rc, 0) << across.out;
  EXPECT_EQ(across.doc.at("result"), "delivered") << across.out;
  EXPECT_TRUE(all_seen(across)) << across.out;
  EXPECT_TRUE(node_saw_probe(across, "node1")) << across.out;
  EXPECT_TRUE(node_saw_probe(across, "node2")) << across.out;

  // 3. To the ClusterIP: the service proxy's DNAT of this probe is seen on node1.
  auto svc_run = trace("lv/cli svc/lv/web");
  ASSERT_EQ(svc_run.rc, 0) << svc_run.out;
  EXPECT_EQ(svc_run.doc.at("result"), "delivered") << svc_run.out;
  const auto* proxy = hop(svc_run, "service proxy");
  ASSERT_NE(proxy, nullptr) << svc_run.out;
  EXPECT_TRUE(proxy->at("live").at("seen").as_bool()) << svc_run.out;
  EXPECT_FALSE(proxy->at("live").at("evidence").as_array().empty()) << svc_run.out;
  EXPECT_TRUE(node_saw_probe(svc_run, "node2")) << svc_run.out;

  // 4. A broken path: the deny-all policy on node2's pod drops the probe at its veth.
  auto lost = trace("lv/cli lv/locked --port 80 --probe-timeout 500");
  EXPECT_EQ(lost.rc, 1) << lost.out;
  ASSERT_TRUE(lost.doc.is_object()) << lost.out;
  EXPECT_EQ(lost.doc.at("result"), "lost") << lost.out;
  // Lost at the destination's side: its veth (or, where the trace names it, its ingress policy hop).
  ASSERT_TRUE(lost.doc.at("lost_at").is_string()) << lost.out;
  const std::string lost_at(lost.doc.at("lost_at").as_string());
  EXPECT_TRUE(lost_at == "pod veth" || lost_at.find("policy") != std::string::npos) << lost.out;
  ASSERT_NE(hop(lost, lost_at), nullptr);
  EXPECT_EQ(hop(lost, lost_at)->at("node"), "node2") << lost.out;
  // Last seen on the way: node1's hops, or the tunnel that brought it to node2.
  ASSERT_TRUE(lost.doc.at("live").at("last_seen").is_string()) << lost.out;
  EXPECT_NE(lost.doc.at("live").at("last_seen"), json::value(lost_at)) << lost.out;
  EXPECT_TRUE(hop(lost, "vxlan tunnel")->at("live").at("seen").as_bool()) << lost.out;
  EXPECT_EQ(lost.doc.at("live").at("probe").at("outcome").at("result"), "timeout") << lost.out;
  EXPECT_LT(lost.doc.at("live").at("probe").at("outcome").at("ms").to_number<double>(),
            900);  // --probe-timeout
  std::string reason(lost.doc.at("reason").as_string());
  EXPECT_NE(reason.find("node2"), std::string::npos) << reason;
  EXPECT_TRUE(reason.find("podnet-policy") != std::string::npos ||
              reason.find("NETFILTER_DROP") != std::string::npos ||
              reason.find("policy") != std::string::npos)
      << reason;
  EXPECT_TRUE(node_saw_probe(lost, "node2")) << lost.out;
  // The kernel's own word on it: skb:kfree_skb with the netfilter drop reason, on node2.
  bool kernel_drop = false;
  for (const auto& d : lost.doc.at("live").at("nodes").at("node2").at("drops").as_array())
    kernel_drop |= d.at("reason") == "NETFILTER_DROP";
  EXPECT_TRUE(kernel_drop) << json::serialize(lost.doc.at("live").at("nodes").at("node2"));
  // 5. A broken wire: node1's VXLAN packets to node2 dropped on the underlay bridge (a table in
  //    the cluster's own underlay namespace, which goes with it). Node1 saw the probe leave, node2
  //    never saw it: lost at the tunnel, last seen on node1, and no node's kernel dropped it.
  const std::string wire = "ip netns exec " + c_.layout().underlay_netns() + " nft ";
  ASSERT_EQ(shell(wire + "add table bridge pn-live-wire").rc, 0);
  ASSERT_EQ(shell(wire + "'add chain bridge pn-live-wire cut { type filter hook forward priority 0; }'").rc,
            0);
  ASSERT_EQ(shell(wire + "add rule bridge pn-live-wire cut ip saddr " + c_.node_ip(1) + " ip daddr " +
                  c_.node_ip(2) + " udp dport 4789 drop")
                .rc,
            0);
  auto cut = trace("lv/cli lv/far --port 80 --probe-timeout 500");
  (void)shell(wire + "delete table bridge pn-live-wire");
  EXPECT_EQ(cut.rc, 1) << cut.out;
  ASSERT_TRUE(cut.doc.is_object()) << cut.out;
  EXPECT_EQ(cut.doc.at("lost_at"), "vxlan tunnel") << cut.out;
  EXPECT_TRUE(hop(cut, "pod eth0")->at("live").at("seen").as_bool()) << cut.out;
  EXPECT_TRUE(node_saw_probe(cut, "node1")) << cut.out;
  EXPECT_FALSE(node_saw_probe(cut, "node2")) << cut.out;
  EXPECT_NE(std::string(cut.doc.at("reason").as_string()).find("no drop seen"), std::string::npos) << cut.out;

  std::printf("five live traces: %.0f ms\n",
              std::chrono::duration<double, std::milli>(Clock::now() - test_start).count());

  // Refusals: the node credential may not exec into the pod, so it may not probe as it.
  auto base = std::string(kKubectl) + " --kubeconfig ";
  auto node_cred = shell(base + c_.layout().node_kubeconfig(1) +
                         " get --raw '/api/v1/nodes/node1/proxy/podnet/v1/probe/arm?namespace=lv&pod=cli&"
                         "src=10.1.1.1&sport=40000' 2>&1");
  EXPECT_NE(node_cred.rc, 0);
  EXPECT_NE(node_cred.out.find("pods/exec"), std::string::npos) << node_cred.out;
  auto no_pod =
      shell(base + c_.kubeconfig() +
            " get --raw '/api/v1/nodes/node1/proxy/podnet/v1/probe/arm?src=10.1.1.1&sport=40000' 2>&1");
  EXPECT_NE(no_pod.rc, 0);
  EXPECT_NE(no_pod.out.find("namespace and pod"), std::string::npos) << no_pod.out;
  // Exec into cli is no licence to trace another pod's connections: src must be cli's address.
  auto other_src = shell(base + c_.kubeconfig() +
                         " get --raw '/api/v1/nodes/node2/proxy/podnet/v1/probe/arm?namespace=lv&pod=cli&"
                         "src=10.1.1.1&sport=40000' 2>&1");
  EXPECT_NE(other_src.rc, 0);
  EXPECT_NE(other_src.out.find("is not an address of pod lv/cli"), std::string::npos) << other_src.out;
  auto elsewhere = shell(base + c_.kubeconfig() +
                         " get --raw '/api/v1/nodes/node2/proxy/podnet/v1/probe/send?namespace=lv&pod=cli&"
                         "dst=10.1.1.1&dport=80&sport=40000' 2>&1");
  EXPECT_NE(elsewhere.out.find("not running on this node"), std::string::npos) << elsewhere.out;

  // Nothing left: no trace table on either node, no drop watch in the kernel.
  for (int n : {1, 2}) {
    auto tables = c_.in_node(n, "nft list tables");
    EXPECT_EQ(tables.out.find("podnet-probe-"), std::string::npos) << tables.out;
  }
  EXPECT_EQ(drop_watch_programs(), 0);
}

}  // namespace
}  // namespace podnet::testing
