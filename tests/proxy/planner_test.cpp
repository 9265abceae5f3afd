// Table-driven tests of the planner: Service + EndpointSlices + node in, frontends and endpoints out.
#include "proxy/planner.h"

#include <gtest/gtest.h>

#include <functional>

#include "proxy/builders.h"

namespace podnet::proxy {
namespace {

using namespace testing;

// "10.96.0.1 tcp/80 -> svc-n2 10.1.0.1:8080,10.1.0.2:8080" or "10.96.0.1 tcp/80 -> reject".
std::vector<std::string> render(const ServicePlan& plan) {
  std::vector<std::string> out;
  for (const auto& fp : plan.frontends) {
    const char* proto = fp.frontend.proto == 6 ? "tcp" : fp.frontend.proto == 17 ? "udp" : "sctp";
    std::string s = fp.frontend.addr.str() + " " + proto + "/" + std::to_string(fp.frontend.port) + " -> ";
    if (fp.backends.empty()) {
      out.push_back(s + "reject");
      continue;
    }
    s += fp.chain().name() + " ";
    for (size_t i = 0; i < fp.backends.size(); ++i)
      s += (i ? "," : "") + fp.backends[i].addr.str() + ":" + std::to_string(fp.backends[i].port);
    out.push_back(s);
  }
  return out;
}

struct PlanCase {
  const char* name;
  std::function<k8s::Service()> service;
  std::vector<k8s::EndpointSlice> slices;
  std::vector<std::string> expected;
};

const NodeInfo kNode{"node-a", {ip("192.168.1.10")}};

class PlannerTable : public ::testing::TestWithParam<PlanCase> {};

TEST_P(PlannerTable, Frontends) {
  const auto& c = GetParam();
  std::vector<const k8s::EndpointSlice*> ptrs;
  for (const auto& s : c.slices) ptrs.push_back(&s);
  EXPECT_EQ(render(plan_service(c.service(), ptrs, kNode)), c.expected);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, PlannerTable,
    ::testing::Values(
        PlanCase{"OnlyReadyEndpoints",
                 [] { return cluster_ip_service("web", "10.96.0.1", {tcp_port("http", 80, 8080)}); },
                 {slice("web", {{"10.1.0.2"}, {"10.1.0.1"}, {"10.1.0.3", false, false}}, {slice_port("http", 8080)})},
                 {"10.96.0.1 tcp/80 -> svc-n2 10.1.0.1:8080,10.1.0.2:8080"}},
        PlanCase{"ServingTerminatingWhenNoneReady",
                 [] { return cluster_ip_service("web", "10.96.0.1", {tcp_port("http", 80, 8080)}); },
                 {slice("web", {{"10.1.0.1", false, true, true}, {"10.1.0.2", false, false, true}}, {slice_port("http", 8080)})},
                 {"10.96.0.1 tcp/80 -> svc-n1 10.1.0.1:8080"}},
        PlanCase{"TerminatingIgnoredWhileAnyReady",
                 [] { return cluster_ip_service("web", "10.96.0.1", {tcp_port("http", 80, 8080)}); },
                 {slice("web", {{"10.1.0.1", false, true, true}, {"10.1.0.2"}}, {slice_port("http", 8080)})},
                 {"10.96.0.1 tcp/80 -> svc-n1 10.1.0.2:8080"}},
        // kube-proxy's CategorizeEndpoints: Cluster and Local each fall back to serving-terminating
        // endpoints on their own, only when they have no ready one.
        PlanCase{"ClusterPrefersRemoteReadyOverLocalTerminating",
                 [] { return cluster_ip_service("web", "10.96.0.1", {tcp_port("http", 80, 8080)}); },
                 {slice("web", {{"10.1.0.1", false, true, true}, {"10.2.0.1", true, true, false, "node-b"}},
                        {slice_port("http", 8080)})},
                 {"10.96.0.1 tcp/80 -> svc-n1 10.2.0.1:8080"}},
        PlanCase{"NotServingTerminatingIsNeverUsed",
                 [] { return cluster_ip_service("web", "10.96.0.1", {tcp_port("http", 80, 8080)}); },
                 {slice("web", {{"10.1.0.1", false, false, true}, {"10.1.0.2", false, false, false}},
                        {slice_port("http", 8080)})},
                 {"10.96.0.1 tcp/80 -> reject"}},
        PlanCase{"InternalLocalFallsBackToLocalServingTerminating",
                 [] {
                   auto s = cluster_ip_service("web", "10.96.0.1", {tcp_port("http", 80, 8080)});
                   s.internal_traffic_policy = k8s::TrafficPolicy::kLocal;
                   return s;
                 },
                 {slice("web", {{"10.1.0.1", false, true, true}, {"10.2.0.1", true, true, false, "node-b"}},
                        {slice_port("http", 8080)})},
                 {"10.96.0.1 tcp/80 -> svc-n1 10.1.0.1:8080"}},
        PlanCase{"ExternalLocalReadyBeatsLocalTerminatingWhileClusterFallsBack",
                 [] {
                   auto s = cluster_ip_service("web", "10.96.0.1", {tcp_port("http", 80, 8080, 30080)});
                   s.type = k8s::ServiceType::kNodePort;
                   s.external_traffic_policy = k8s::TrafficPolicy::kLocal;
                   return s;
                 },
                 {slice("web", {{"10.1.0.1", false, true, true}, {"10.1.0.2"}, {"10.2.0.1", false, true, true, "node-b"}},
                        {slice_port("http", 8080)})},
                 {"10.96.0.1 tcp/80 -> svc-n1 10.1.0.2:8080", "192.168.1.10 tcp/30080 -> svc-n1 10.1.0.2:8080"}},
        PlanCase{"ExternalLocalFallsBackToLocalServingTerminatingOnly",
                 [] {
                   auto s = cluster_ip_service("web", "10.96.0.1", {tcp_port("http", 80, 8080, 30080)});
                   s.type = k8s::ServiceType::kNodePort;
                   s.external_traffic_policy = k8s::TrafficPolicy::kLocal;
                   return s;
                 },
                 {slice("web", {{"10.1.0.1", false, true, true}, {"10.2.0.1", true, true, false, "node-b"}},
                        {slice_port("http", 8080)})},
                 {"10.96.0.1 tcp/80 -> svc-n1 10.2.0.1:8080", "192.168.1.10 tcp/30080 -> svc-n1 10.1.0.1:8080"}},
        PlanCase{"NoEndpointsRejects",
                 [] { return cluster_ip_service("web", "10.96.0.1", {tcp_port("http", 80, 8080)}); },
                 {},
                 {"10.96.0.1 tcp/80 -> reject"}},
        PlanCase{"NamedTargetPortResolvedPerSlice",
                 [] { return cluster_ip_service("web", "10.96.0.1", {tcp_port("http", 80, std::string("web"))}); },
                 {slice("web", {{"10.1.0.1"}}, {slice_port("http", 8080)}),
                  slice("web", {{"10.1.0.2"}}, {slice_port("http", 9090)})},
                 {"10.96.0.1 tcp/80 -> svc-n2 10.1.0.1:8080,10.1.0.2:9090"}},
        PlanCase{"SeveralPortsAndProtocols",
                 [] {
                   auto s = cluster_ip_service("dns", "10.96.0.10", {tcp_port("dns-tcp", 53, 5353)});
                   s.ports.push_back({"dns", k8s::Protocol::kUdp, 53, 5353, 0});
                   s.ports.push_back({"sig", k8s::Protocol::kSctp, 9000, 9000, 0});
                   return s;
                 },
                 {slice("dns", {{"10.1.0.1"}},
                        {slice_port("dns-tcp", 5353), slice_port("dns", 5353, k8s::Protocol::kUdp),
                         slice_port("sig", 9000, k8s::Protocol::kSctp)})},
                 {"10.96.0.10 tcp/53 -> svc-n1 10.1.0.1:5353", "10.96.0.10 udp/53 -> svc-n1 10.1.0.1:5353",
                  "10.96.0.10 sctp/9000 -> svc-n1 10.1.0.1:9000"}},
        PlanCase{"PortWithoutSlicePortRejects",
                 [] { return cluster_ip_service("web", "10.96.0.1", {tcp_port("metrics", 9100, 9100)}); },
                 {slice("web", {{"10.1.0.1"}}, {slice_port("http", 8080)})},
                 {"10.96.0.1 tcp/9100 -> reject"}},
        PlanCase{"InternalTrafficPolicyLocal",
                 [] {
                   auto s = cluster_ip_service("web", "10.96.0.1", {tcp_port("http", 80, 8080)});
                   s.internal_traffic_policy = k8s::TrafficPolicy::kLocal;
                   return s;
                 },
                 {slice("web", {{"10.1.0.1"}, {"10.2.0.1", true, true, false, "node-b"}}, {slice_port("http", 8080)})},
                 {"10.96.0.1 tcp/80 -> svc-n1 10.1.0.1:8080"}},
        PlanCase{"NodePortClusterPolicyMasquerades",
                 [] {
                   auto s = cluster_ip_service("web", "10.96.0.1", {tcp_port("http", 80, 8080, 30080)});
                   s.type = k8s::ServiceType::kNodePort;
                   return s;
                 },
                 {slice("web", {{"10.1.0.1"}, {"10.2.0.1", true, true, false, "node-b"}}, {slice_port("http", 8080)})},
                 {"10.96.0.1 tcp/80 -> svc-n2 10.1.0.1:8080,10.2.0.1:8080",
                  "192.168.1.10 tcp/30080 -> svc-n2-masq 10.1.0.1:8080,10.2.0.1:8080"}},
        PlanCase{"ExternalPolicyLocalKeepsSourceAndUsesLocalEndpoints",
                 [] {
                   auto s = cluster_ip_service("web", "10.96.0.1", {tcp_port("http", 80, 8080, 30080)});
                   s.type = k8s::ServiceType::kLoadBalancer;
                   s.external_traffic_policy = k8s::TrafficPolicy::kLocal;
                   s.external_ips = {ip("192.0.2.7")};
                   s.load_balancer_ips = {ip("198.51.100.1")};
                   return s;
                 },
                 {slice("web", {{"10.1.0.1"}, {"10.2.0.1", true, true, false, "node-b"}}, {slice_port("http", 8080)})},
                 {"10.96.0.1 tcp/80 -> svc-n2 10.1.0.1:8080,10.2.0.1:8080", "192.0.2.7 tcp/80 -> svc-n1 10.1.0.1:8080",
                  "192.168.1.10 tcp/30080 -> svc-n1 10.1.0.1:8080", "198.51.100.1 tcp/80 -> svc-n1 10.1.0.1:8080"}},
        PlanCase{"ExternalPolicyLocalWithoutLocalEndpointsRejects",
                 [] {
                   auto s = cluster_ip_service("web", "10.96.0.1", {tcp_port("http", 80, 8080, 30080)});
                   s.type = k8s::ServiceType::kNodePort;
                   s.external_traffic_policy = k8s::TrafficPolicy::kLocal;
                   return s;
                 },
                 {slice("web", {{"10.2.0.1", true, true, false, "node-b"}}, {slice_port("http", 8080)})},
                 {"10.96.0.1 tcp/80 -> svc-n1 10.2.0.1:8080", "192.168.1.10 tcp/30080 -> reject"}},
        PlanCase{"LoadBalancerIpsOnlyForTypeLoadBalancer",
                 [] {
                   auto s = cluster_ip_service("web", "10.96.0.1", {tcp_port("http", 80, 8080)});
                   s.load_balancer_ips = {ip("198.51.100.1")};  // stale status of a former LoadBalancer
                   return s;
                 },
                 {slice("web", {{"10.1.0.1"}}, {slice_port("http", 8080)})},
                 {"10.96.0.1 tcp/80 -> svc-n1 10.1.0.1:8080"}},
        PlanCase{"SessionAffinityChain",
                 [] {
                   auto s = cluster_ip_service("web", "10.96.0.1", {tcp_port("http", 80, 8080)});
                   s.affinity_client_ip = true;
                   s.affinity_timeout_seconds = 60;
                   return s;
                 },
                 {slice("web", {{"10.1.0.1"}}, {slice_port("http", 8080)})},
                 {"10.96.0.1 tcp/80 -> svc-n1-aff60 10.1.0.1:8080"}},
        PlanCase{"HeadlessHasNoFrontends",
                 [] {
                   auto s = cluster_ip_service("web", "10.96.0.1", {tcp_port("http", 80, 8080)});
                   s.cluster_ips.clear();
                   s.headless = true;
                   return s;
                 },
                 {slice("web", {{"10.1.0.1"}}, {slice_port("http", 8080)})},
                 {}},
        PlanCase{"DualStackPicksEndpointsOfEachFamily",
                 [] {
                   auto s = cluster_ip_service("web", "10.96.0.1", {tcp_port("http", 80, 8080)});
                   s.cluster_ips.push_back(ip("fd00::1"));
                   return s;
                 },
                 {slice("web", {{"10.1.0.1"}}, {slice_port("http", 8080)}),
                  slice("web", {{"fd01::5"}}, {slice_port("http", 8080)}, k8s::AddressType::kIPv6)},
                 {"10.96.0.1 tcp/80 -> svc-n1 10.1.0.1:8080", "fd00::1 tcp/80 -> svc-n1 fd01::5:8080"}}),
    [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace podnet::proxy
