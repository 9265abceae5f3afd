// `podnet trace` (computed, no probe sent) on a 2-node vxlan `podnet up` cluster through the real
// binary, asserting on its JSON: pod to pod on one node, pod to pod across nodes, pod to ClusterIP,
// node to pod, and a broken path (a Service with no endpoints) reported as lost at the service
// proxy. Every answer about a node comes from that node's agent through nodes/<name>/proxy.
#include <boost/json.hpp>
#include <chrono>

#include "support/kubectl.h"
#include "support/up_cluster.h"

namespace podnet::testing {
namespace {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;

std::string sleeper(const std::string& name, const std::string& node, const std::string& labels = "{}") {
  return "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"" + name +
         "\",\"namespace\":\"default\",\"labels\":" + labels + "},\"spec\":{\"nodeName\":\"" + node +
         "\",\"terminationGracePeriodSeconds\":1,\"containers\":[{\"name\":\"c\",\"image\":\"unused\","
         "\"command\":[\"sleep\",\"3600\"]}]}}";
}
std::string service(const std::string& name, const std::string& app) {
  return "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"" + name +
         "\",\"namespace\":\"default\"},\"spec\":{\"selector\":{\"app\":\"" + app +
         "\"},\"ports\":[{\"port\":80,\"targetPort\":8080,\"protocol\":\"TCP\"}]}}";
}

class TraceE2E : public ::testing::Test {
 protected:
  struct Run {
    int rc = -1;
    json::value doc;
    std::string out;
    double wall_ms = 0;
  };
  Run trace(const std::string& args) {
    auto start = Clock::now();
    auto r = shell(podnet_bin() + " trace -o json --kubeconfig " + c_.kubeconfig() + " " + args + " 2>&1");
    Run run;
    run.wall_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    run.rc = r.rc;
    run.out = r.out;
    json::error_code ec;
    run.doc = json::parse(r.out, ec);
    EXPECT_FALSE(ec) << args << ": " << r.out;
    if (!ec)
      std::printf("podnet trace %s: %.0f ms computed, %.0f ms wall\n", args.c_str(),
                  run.doc.at("ms").to_number<double>(), run.wall_ms);
    return run;
  }
  static std::vector<std::string> hops(const Run& r) {
    std::vector<std::string> out;
    if (!r.doc.is_object()) return out;
    for (const auto& h : r.doc.at("hops").as_array())
      out.push_back(std::string(h.at("hop").as_string()) + "@" + std::string(h.at("node").as_string()));
    return out;
  }
  static const json::value* find_hop(const Run& r, const std::string& name) {
    if (!r.doc.is_object()) return nullptr;
    for (const auto& h : r.doc.at("hops").as_array())
      if (h.at("hop").as_string() == name) return &h;
    return nullptr;
  }
  UpCluster c_;
};

TEST_F(TraceE2E, FourProblemsAndABrokenPathHopByHop) {
  if (!have_agent()) GTEST_SKIP() << "podnet agent is not in this build";
  if (std::string why = kubectl_missing(); !why.empty()) GTEST_SKIP() << why;
  auto up = c_.up(2, "--overlay vxlan --timeout 120");
  ASSERT_EQ(up.rc, 0) << up.out;
  for (const auto& m :
       {sleeper("a", "node1"), sleeper("b", "node1"), sleeper("c", "node2", "{\"app\":\"web\"}"),
        service("web", "web"), service("empty", "nothing")}) {
    auto r = shell("echo '" + m + "' | " + std::string(kKubectl) + " --kubeconfig " + c_.kubeconfig() +
                   " apply -f - 2>&1");
    ASSERT_EQ(r.rc, 0) << r.out;
  }
  auto ready = c_.kubectl("wait --for=condition=Ready pod/a pod/b pod/c --timeout=60s");
  ASSERT_EQ(ready.rc, 0) << ready.out;
  const std::string node2_ip = c_.node_ip(2);

  // 1. Pod to pod on one node: never leaves node1.
  auto same = trace("default/a default/b");
  EXPECT_EQ(same.rc, 0) << same.out;
  EXPECT_EQ(same.doc.at("result"), "delivered") << same.out;
  for (const auto& h : hops(same)) EXPECT_TRUE(h.ends_with("@node1")) << same.out;
  EXPECT_EQ(find_hop(same, "vxlan tunnel"), nullptr) << same.out;
  if (const auto* fp = find_hop(same, "fast path"); fp && fp->at("evidence").at("enabled").as_bool())
    EXPECT_NE(std::string(fp->at("detail").as_string()).find("pn_pods hit"), std::string::npos) << same.out;

  // 2. Pod to pod across nodes: node1's route into pnvx0, its FDB entry for node2, delivered on node2.
  auto across = trace("default/a default/c");
  EXPECT_EQ(across.rc, 0) << across.out;
  EXPECT_EQ(across.doc.at("result"), "delivered") << across.out;
  const auto* tunnel = find_hop(across, "vxlan tunnel");
  ASSERT_NE(tunnel, nullptr) << across.out;
  EXPECT_EQ(tunnel->at("evidence").at("dst").as_string(), node2_ip) << across.out;
  const auto* route = find_hop(across, "route");
  ASSERT_NE(route, nullptr);
  EXPECT_EQ(route->at("evidence").at("dev").as_string(), "pnvx0");
  if (const auto* fp = find_hop(across, "fast path"); fp && fp->at("evidence").at("enabled").as_bool()) {
    EXPECT_EQ(fp->at("evidence").at("tunnel").at("node_ip").as_string(), node2_ip) << across.out;
    EXPECT_TRUE(fp->at("evidence").at("stats").as_object().contains("encap"));
  }
  EXPECT_EQ(hops(across).back(), "pod veth@node2") << across.out;
  EXPECT_NE(std::string(find_hop(across, "masquerade")->at("detail").as_string()).find("no:"),
            std::string::npos);

  // 3. Pod to ClusterIP: the service proxy on node1 picks c, then across to node2.
  auto svc = trace("default/a svc/default/web");
  EXPECT_EQ(svc.rc, 0) << svc.out;
  EXPECT_EQ(svc.doc.at("result"), "delivered") << svc.out;
  const auto* proxy = find_hop(svc, "service proxy");
  ASSERT_NE(proxy, nullptr) << svc.out;
  EXPECT_EQ(proxy->at("node").as_string(), "node1");
  EXPECT_EQ(proxy->at("evidence").at("target_port").to_number<int64_t>(), 8080);
  ASSERT_EQ(proxy->at("evidence").at("endpoints").as_array().size(), 1u) << svc.out;
  EXPECT_EQ(proxy->at("evidence").at("endpoints").as_array()[0].at("pod").as_string(), "c");
  EXPECT_EQ(hops(svc).back(), "pod veth@node2") << svc.out;
  // The same Service by its ClusterIP.
  auto by_ip = trace("default/a " + std::string(svc.doc.at("dst").at("ip").as_string()));
  EXPECT_EQ(by_ip.doc.at("result"), "delivered") << by_ip.out;

  // 4. Node to pod: node2's own stack to a, through the tunnel to node1.
  auto node = trace("node/node2 default/a");
  EXPECT_EQ(node.rc, 0) << node.out;
  EXPECT_EQ(node.doc.at("result"), "delivered") << node.out;
  ASSERT_NE(find_hop(node, "vxlan tunnel"), nullptr) << node.out;
  EXPECT_EQ(find_hop(node, "vxlan tunnel")->at("evidence").at("dst").as_string(), c_.node_ip(1));

  // A broken path: a Service with no endpoints is lost at the service proxy, exit 1.
  auto broken = trace("default/a svc/default/empty");
  EXPECT_EQ(broken.rc, 1) << broken.out;
  EXPECT_EQ(broken.doc.at("result"), "lost") << broken.out;
  EXPECT_EQ(broken.doc.at("lost_at"), "service proxy") << broken.out;

  // Bad input is a clear error, exit 2.
  auto bad =
      shell(podnet_bin() + " trace --kubeconfig " + c_.kubeconfig() + " default/a default/nothere 2>&1");
  EXPECT_EQ(bad.rc, 2) << bad.out;
  EXPECT_NE(bad.out.find("nothere"), std::string::npos) << bad.out;
}

}  // namespace
}  // namespace podnet::testing
