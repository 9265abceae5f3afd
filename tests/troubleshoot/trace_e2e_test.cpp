// `podnet trace` (computed, no probe sent) on a 2-node vxlan `podnet up` cluster through the real
// binary, asserting on its JSON: pod to pod on one node, pod to pod across nodes, pod to ClusterIP,
// node to pod, and a broken path (a Service with no endpoints) reported as lost at the service
// proxy. Every answer about a node comes from that node's agent through nodes/<name>/proxy.
#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <cstdlib>
#include <thread>

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

std::string external_service(const std::string& name, const std::string& type, const std::string& policy,
                             int node_port) {
  return "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"" + name +
         "\",\"namespace\":\"default\"},\"spec\":{\"type\":\"" + type + "\",\"externalTrafficPolicy\":\"" +
         policy +
         "\",\"selector\":{\"app\":\"web\"},\"ports\":[{\"port\":80,\"targetPort\":8080,\"protocol\":\"TCP\","
         "\"nodePort\":" +
         std::to_string(node_port) + "}]}}";
}
std::string policy(const std::string& name, const std::string& ingress) {
  return "{\"apiVersion\":\"networking.k8s.io/v1\",\"kind\":\"NetworkPolicy\",\"metadata\":{\"name\":\"" +
         name +
         "\",\"namespace\":\"default\"},\"spec\":{\"podSelector\":{\"matchLabels\":{\"app\":\"web\"}},"
         "\"policyTypes\":[\"Ingress\"],\"ingress\":" +
         ingress + "}}";
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
  CommandResult apply(const std::string& manifest) {
    auto r = shell("echo '" + manifest + "' | " + std::string(kKubectl) + " --kubeconfig " + c_.kubeconfig() +
                   " apply -f - 2>&1");
    EXPECT_EQ(r.rc, 0) << r.out;
    return r;
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
  if (const auto* fp = find_hop(same, "fast path"); fp && fp->at("evidence").at("enabled").as_bool()) {
    EXPECT_NE(std::string(fp->at("detail").as_string()).find("pn_pods hit"), std::string::npos) << same.out;
  }

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

  // 5. Outside to a NodePort, externalTrafficPolicy Cluster: node1's proxy (its kernel's chain
  // masquerades) sends it to c on node2 through the tunnel, masqueraded.
  for (const auto& m : {external_service("np-cluster", "NodePort", "Cluster", 30081),
                        external_service("np-local", "NodePort", "Local", 30082),
                        external_service("lb", "LoadBalancer", "Cluster", 30083)})
    ASSERT_EQ(apply(m).rc, 0);
  const std::string node1_ip = c_.node_ip(1);
  Run np;
  for (auto deadline = Clock::now() + std::chrono::seconds(10);;) {  // until the proxies have it
    np = trace("outside " + node1_ip + " --port 30081");
    if (np.rc == 0 || Clock::now() > deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_EQ(np.rc, 0) << np.out;
  EXPECT_EQ(np.doc.at("problem"), "internet-to-service") << np.out;
  ASSERT_FALSE(hops(np).empty()) << np.out;
  EXPECT_EQ(hops(np).front(), "underlay@node1") << np.out;
  const auto* npp = find_hop(np, "service proxy");
  ASSERT_NE(npp, nullptr) << np.out;
  EXPECT_EQ(npp->at("node").as_string(), "node1");
  EXPECT_EQ(npp->at("evidence").at("kind").as_string(), "nodePort");
  EXPECT_EQ(npp->at("evidence").at("kernel").at("masquerade"), true) << np.out;
  EXPECT_EQ(npp->at("evidence").at("kernel").at("endpoints").as_array().size(), 1u) << np.out;
  EXPECT_NE(find_hop(np, "vxlan tunnel"), nullptr) << np.out;
  EXPECT_TRUE(std::string(find_hop(np, "masquerade")->at("detail").as_string()).starts_with("yes")) << np.out;
  EXPECT_EQ(hops(np).back(), "pod veth@node2") << np.out;

  // 6. externalTrafficPolicy Local: through node1 (no local endpoint) lost at its proxy; through
  // node2 delivered with the client's address, no masquerade in node2's kernel.
  auto local1 = trace("outside " + node1_ip + " --port 30082");
  EXPECT_EQ(local1.rc, 1) << local1.out;
  EXPECT_EQ(local1.doc.at("lost_at"), "service proxy") << local1.out;
  auto local2 = trace("outside/192.168.199.1 " + node2_ip + " --port 30082");
  EXPECT_EQ(local2.rc, 0) << local2.out;
  if (const auto* p2 = find_hop(local2, "service proxy")) {
    EXPECT_EQ(p2->at("node").as_string(), "node2");
    EXPECT_EQ(p2->at("evidence").at("kernel").at("masquerade"), false) << local2.out;
  }
  EXPECT_NE(std::string(find_hop(local2, "masquerade")->at("detail").as_string()).find("192.168.199.1"),
            std::string::npos)
      << local2.out;
  EXPECT_EQ(find_hop(local2, "vxlan tunnel"), nullptr) << local2.out;

  // 7. Outside to the LoadBalancer IP: enters at the node that announces it.
  std::string lb_ip;
  for (auto deadline = Clock::now() + std::chrono::seconds(10); lb_ip.empty() && Clock::now() < deadline;) {
    lb_ip = c_.kubectl("get svc lb -o jsonpath={.status.loadBalancer.ingress[0].ip}").out;
    if (lb_ip.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  ASSERT_FALSE(lb_ip.empty()) << "no LoadBalancer IP assigned";
  Run lb;
  for (auto deadline = Clock::now() + std::chrono::seconds(10);;) {  // until a node announces it
    lb = trace("outside svc/default/lb");
    if (lb.rc == 0 || Clock::now() > deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_EQ(lb.rc, 0) << lb.out;
  EXPECT_EQ(lb.doc.at("dst").at("ip").as_string(), lb_ip) << lb.out;
  ASSERT_FALSE(hops(lb).empty()) << lb.out;
  EXPECT_TRUE(hops(lb).front().starts_with("underlay@")) << lb.out;
  EXPECT_TRUE(find_hop(lb, "underlay")->at("evidence").is_object()) << lb.out;  // the address on its device
  EXPECT_EQ(find_hop(lb, "service proxy")->at("evidence").at("kind").as_string(), "loadBalancer");

  // 8. Container to container: inside a's network namespace.
  auto lo = trace("default/a localhost --port 8080");
  EXPECT_EQ(lo.rc, 0) << lo.out;
  EXPECT_EQ(lo.doc.at("problem"), "container-to-container");
  EXPECT_EQ(hops(lo), std::vector<std::string>{"pod lo@node1"}) << lo.out;

  // 9. NetworkPolicy: a deny-all ingress policy on app=web ends the trace at c's ingress, naming
  // it; an allowing rule added makes it delivered, naming the rule.
  ASSERT_EQ(apply(policy("deny-web", "[]")).rc, 0);
  auto denied = trace("default/a default/c --port 8080");
  EXPECT_EQ(denied.rc, 1) << denied.out;
  EXPECT_EQ(denied.doc.at("lost_at"), "policy ingress") << denied.out;
  EXPECT_NE(std::string(denied.doc.at("reason").as_string()).find("default/deny-web"), std::string::npos);
  ASSERT_EQ(apply(policy("allow-8080", "[{\"ports\":[{\"port\":8080}]}]")).rc, 0);
  auto allowed = trace("default/a default/c --port 8080");
  EXPECT_EQ(allowed.rc, 0) << allowed.out;
  const auto* ing = find_hop(allowed, "policy ingress");
  ASSERT_NE(ing, nullptr) << allowed.out;
  ASSERT_EQ(ing->at("evidence").at("allowed_by").as_array().size(), 1u) << allowed.out;
  EXPECT_EQ(ing->at("evidence").at("allowed_by").as_array()[0].at("policy").as_string(),
            "default/allow-8080");
  EXPECT_EQ(ing->at("evidence").at("selecting").as_array().size(), 2u);

  // Timing (PODNET_TRACE_RUNS=N): pod -> Service across nodes, N runs, computed and wall p50/p95.
  if (const char* n = std::getenv("PODNET_TRACE_RUNS"); n && std::atoi(n) > 0) {
    std::vector<double> computed, wall;
    for (int i = 0; i < std::atoi(n); ++i) {
      auto r = trace("default/a svc/default/web");
      if (r.doc.is_object()) computed.push_back(r.doc.at("ms").to_number<double>());
      wall.push_back(r.wall_ms);
    }
    auto pct = [](std::vector<double> v, double p) {
      std::sort(v.begin(), v.end());
      return v.empty() ? 0.0 : v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
    };
    std::printf("trace timing, %zu runs: computed p50 %.0f ms p95 %.0f ms; wall p50 %.0f ms p95 %.0f ms\n",
                wall.size(), pct(computed, 0.5), pct(computed, 0.95), pct(wall, 0.5), pct(wall, 0.95));
  }

  // Bad input is a clear error, exit 2.
  auto bad =
      shell(podnet_bin() + " trace --kubeconfig " + c_.kubeconfig() + " default/a default/nothere 2>&1");
  EXPECT_EQ(bad.rc, 2) << bad.out;
  EXPECT_NE(bad.out.find("nothere"), std::string::npos) << bad.out;
}

}  // namespace
}  // namespace podnet::testing
