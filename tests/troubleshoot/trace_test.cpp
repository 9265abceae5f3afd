// compute_trace against a fake API (no cluster): the hop where a broken path is lost, named from
// the nodes' answers. The healthy paths run on a real cluster in trace_e2e_test.cpp.
#include "troubleshoot/trace.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <map>

namespace podnet::troubleshoot {
namespace {

namespace json = boost::json;

class FakeApi {
 public:
  std::map<std::string, std::string> docs;
  ApiGet get() {
    return [this](const std::string& path) -> Result<json::value> {
      auto it = docs.find(path);
      if (it == docs.end()) return fail_msg("GET " + path + ": 404");
      return json::parse(it->second);
    };
  }
};

FakeApi two_nodes() {
  FakeApi api;
  auto pod = [](const std::string& name, const std::string& node, const std::string& ip,
                const std::string& labels = "{}") {
    return R"({"metadata":{"name":")" + name + R"(","namespace":"default","labels":)" + labels +
           R"(},"spec":{"nodeName":")" + node +
           R"(","containers":[{"name":"c","ports":[{"name":"http","containerPort":8080}]}]},"status":{"podIP":")" +
           ip + R"("}})";
  };
  api.docs["/api/v1/namespaces/default/pods/a"] = pod("a", "node1", "10.244.0.5");
  api.docs["/api/v1/namespaces/default/pods/c"] = pod("c", "node2", "10.244.1.5", R"({"app":"web"})");
  api.docs["/api/v1/nodes/node2"] =
      R"({"status":{"addresses":[{"type":"InternalIP","address":"192.168.5.12"}]}})";
  const std::string n1 = "/api/v1/nodes/node1/proxy/podnet/v1/", n2 = "/api/v1/nodes/node2/proxy/podnet/v1/";
  api.docs[n1 + "fastpath?dst=10.244.1.5"] =
      R"({"enabled":true,"stats":{},"pod":null,"tunnel":{"node_ip":"192.168.5.12","vtep_mac":"aa:bb:cc:dd:ee:02"}})";
  api.docs[n1 + "fastpath?dst=10.244.0.5"] =
      R"({"enabled":true,"stats":{},"pod":{"ifindex":7,"mac":"aa:00:00:00:00:05","flags":0,"pending":false,"isolated":false},"tunnel":null})";
  api.docs[n1 + "routes?dst=10.244.1.5"] =
      R"({"routes":[],"match":{"dst":"10.244.1.0/24","gateway":"10.244.1.0","dev":"pnvx0","onlink":true}})";
  api.docs[n1 + "fdb"] = R"({"device":"pnvx0","entries":[{"mac":"aa:bb:cc:dd:ee:02","dst":"192.168.5.12"}]})";
  api.docs[n2 + "fastpath?dst=10.244.1.5"] =
      R"({"enabled":true,"stats":{},"pod":{"ifindex":9,"mac":"aa:00:00:00:01:05","flags":0,"pending":false,"isolated":false},"tunnel":null})";
  return api;
}

TEST(TraceTest, HealthyAcrossNodesIsDeliveredThroughTheTunnel) {
  FakeApi api = two_nodes();
  auto t = compute_trace(api.get(), {"default/a", "default/c"});
  ASSERT_TRUE(t) << t.error().message();
  EXPECT_EQ(t->at("result"), "delivered") << json::serialize(*t);
  std::vector<std::string> hops;
  for (const auto& h : t->at("hops").as_array()) hops.emplace_back(h.at("hop").as_string());
  EXPECT_EQ(hops, (std::vector<std::string>{"pod eth0", "fast path", "policy egress", "route", "vxlan tunnel",
                                            "masquerade", "policy ingress", "pod veth"}));
  EXPECT_EQ(t->at("problem"), "pod-to-pod");
  EXPECT_NE(format_trace(*t).find("result: delivered"), std::string::npos);
}

TEST(TraceTest, MissingFdbEntryIsLostAtTheTunnel) {
  FakeApi api = two_nodes();
  api.docs["/api/v1/nodes/node1/proxy/podnet/v1/fdb"] = R"({"device":"pnvx0","entries":[]})";
  auto t = compute_trace(api.get(), {"default/a", "default/c"});
  ASSERT_TRUE(t) << t.error().message();
  EXPECT_EQ(t->at("result"), "lost");
  EXPECT_EQ(t->at("lost_at"), "vxlan tunnel");
  EXPECT_NE(std::string(t->at("reason").as_string()).find("192.168.5.12"), std::string::npos);
}

TEST(TraceTest, UnknownPodOnTheDestinationNodeIsLostAtItsVeth) {
  FakeApi api = two_nodes();
  api.docs["/api/v1/nodes/node2/proxy/podnet/v1/fastpath?dst=10.244.1.5"] =
      R"({"enabled":true,"stats":{},"pod":null,"tunnel":null})";
  auto t = compute_trace(api.get(), {"default/a", "default/c"});
  ASSERT_TRUE(t) << t.error().message();
  EXPECT_EQ(t->at("lost_at"), "pod veth");
}

TEST(TraceTest, UnreachableNodeApiAndBadInputAreNamed) {
  FakeApi api = two_nodes();
  api.docs.erase("/api/v1/nodes/node1/proxy/podnet/v1/routes?dst=10.244.1.5");
  auto t = compute_trace(api.get(), {"default/a", "default/c"});
  ASSERT_TRUE(t);
  EXPECT_EQ(t->at("lost_at"), "route");
  EXPECT_NE(std::string(t->at("reason").as_string()).find("node API on node1"), std::string::npos);
  auto bad = compute_trace(api.get(), {"default/a", "a/b/c/d"});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("want NS/POD"), std::string::npos);
  auto proto = compute_trace(api.get(), {"default/a", "default/c", "sctp"});
  ASSERT_FALSE(proto);
}

// A cluster with a Service `web` (NodePort 30080 -> c:8080 on node2) and, per test, a policy.
FakeApi with_service(const std::string& type, const std::string& traffic_policy) {
  FakeApi api = two_nodes();
  std::string svc = R"({"metadata":{"name":"web","namespace":"default"},"spec":{"type":")" + type +
                    R"(","clusterIP":"10.96.0.20","externalTrafficPolicy":")" + traffic_policy +
                    R"(","ports":[{"port":80,"targetPort":8080,"nodePort":30080,"protocol":"TCP"}]},)" +
                    R"("status":{"loadBalancer":{"ingress":[{"ip":"192.168.5.240"}]}}})";
  api.docs["/api/v1/namespaces/default/services/web"] = svc;
  api.docs["/api/v1/services"] = R"({"items":[)" + svc + "]}";
  api.docs["/api/v1/pods"] = R"({"items":[]})";
  api.docs["/api/v1/nodes"] =
      R"({"items":[{"metadata":{"name":"node1"},"status":{"addresses":[{"type":"InternalIP","address":"192.168.5.11"}]}},)"
      R"({"metadata":{"name":"node2"},"status":{"addresses":[{"type":"InternalIP","address":"192.168.5.12"}]}}]})";
  api.docs["/api/v1/nodes/node1"] =
      R"({"metadata":{"name":"node1"},"status":{"addresses":[{"type":"InternalIP","address":"192.168.5.11"}]}})";
  api.docs
      ["/apis/discovery.k8s.io/v1/namespaces/default/"
       "endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Dweb"] =
      R"({"items":[{"ports":[{"name":"","port":8080}],"endpoints":[{"addresses":["10.244.1.5"],)"
      R"("conditions":{"ready":true},"nodeName":"node2","targetRef":{"name":"c"}}]}]})";
  const std::string n1 = "/api/v1/nodes/node1/proxy/podnet/v1/", n2 = "/api/v1/nodes/node2/proxy/podnet/v1/";
  const std::string masq = traffic_policy == "Local" ? "" : "-masq";
  api.docs[n1 + "service?dst=192.168.5.11&proto=tcp&port=30080&service=default%2Fweb"] =
      traffic_policy == "Local"
          ? R"({"chain":null,"no_endpoints":true,"endpoints":[]})"
          : R"({"chain":"svc-n1-masq","masquerade":true,"no_endpoints":false,"endpoints":[{"slot":"0","ip":"10.244.1.5","port":"8080"}]})";
  api.docs[n1 + "routes?dst=192.168.5.11"] =
      R"({"match":{"dst":"192.168.5.0/24","dev":"eth0"},"local":{"dev":"eth0","prefix":"192.168.5.11/24"}})";
  api.docs[n1 + "routes?dst=192.168.5.240"] =
      R"({"match":{"dst":"192.168.5.0/24","dev":"eth0"},"local":null})";
  api.docs[n2 + "routes?dst=192.168.5.240"] =
      R"({"match":{"dst":"192.168.5.0/24","dev":"eth0"},"local":{"dev":"eth0","prefix":"192.168.5.240/32"}})";
  api.docs[n2 + "service?dst=192.168.5.240&proto=tcp&port=80&service=default%2Fweb"] =
      R"({"chain":"svc-n1)" + masq + R"(","masquerade":)" + (masq.empty() ? "false" : "true") +
      R"(,"no_endpoints":false,"endpoints":[{"slot":"0","ip":"10.244.1.5","port":"8080"}]})";
  api.docs[n2 + "routes?dst=10.244.1.5"] = R"({"match":{"dst":"10.244.1.0/24","dev":"pnbr0"}})";
  return api;
}

std::vector<std::string> hop_names(const json::value& t) {
  std::vector<std::string> out;
  for (const auto& h : t.at("hops").as_array())
    out.push_back(std::string(h.at("hop").as_string()) + "@" + std::string(h.at("node").as_string()));
  return out;
}
const json::value* find(const json::value& t, const std::string& hop) {
  for (const auto& h : t.at("hops").as_array())
    if (h.at("hop").as_string() == hop) return &h;
  return nullptr;
}

TEST(TraceTest, OutsideToNodePortClusterMasqueradesToAnEndpointOnAnotherNode) {
  FakeApi api = with_service("NodePort", "Cluster");
  // Only node1's address 192.168.5.0/24 may reach c:8080, and the masquerade makes it so.
  api.docs["/apis/networking.k8s.io/v1/namespaces/default/networkpolicies"] =
      R"({"items":[{"metadata":{"name":"from-nodes","namespace":"default"},"spec":{"podSelector":{"matchLabels":{"app":"web"}},)"
      R"("ingress":[{"from":[{"podSelector":{}}]},{"from":[{"ipBlock":{"cidr":"192.168.5.0/24"}}],"ports":[{"port":"http"}]}]}}]})";
  api.docs["/api/v1/nodes/node2/proxy/podnet/v1/policy?namespace=default&name=from-nodes"] =
      R"({"counters":[{"namespace":"default","policy":"from-nodes","direction":"ingress","rule":1,"packets":7}]})";
  auto t = compute_trace(api.get(), {"outside/203.0.113.9", "192.168.5.11", "tcp", 30080});
  ASSERT_TRUE(t) << t.error().message();
  EXPECT_EQ(t->at("result"), "delivered") << json::serialize(*t);
  EXPECT_EQ(t->at("problem"), "internet-to-service");
  EXPECT_EQ(hop_names(*t), (std::vector<std::string>{"underlay@node1", "service proxy@node1", "route@node1",
                                                     "vxlan tunnel@node1", "masquerade@node1",
                                                     "policy ingress@node2", "pod veth@node2"}))
      << json::serialize(*t);
  const auto& proxy = find(*t, "service proxy")->at("evidence");
  EXPECT_EQ(proxy.at("kind"), "nodePort");
  EXPECT_EQ(proxy.at("traffic_policy"), "Cluster");
  EXPECT_EQ(proxy.at("masquerade"), true);
  EXPECT_EQ(proxy.at("kernel").at("chain"), "svc-n1-masq");
  EXPECT_EQ(proxy.at("target_port"), 8080);
  EXPECT_NE(std::string(find(*t, "masquerade")->at("detail").as_string()).find("yes"), std::string::npos);
  // node2 sees node1's address, which the ipBlock rule (index 1, named port http) allows.
  const auto& pol = find(*t, "policy ingress")->at("evidence");
  EXPECT_EQ(pol.at("peer"), "192.168.5.11");
  ASSERT_EQ(pol.at("allowed_by").as_array().size(), 1u) << json::serialize(pol);
  EXPECT_EQ(pol.at("allowed_by").as_array()[0].at("rule"), 1);
  EXPECT_EQ(pol.at("allowed_by").as_array()[0].at("packets"), 7);
}

TEST(TraceTest, OutsideToNodePortLocalWithoutALocalEndpointIsLostAtTheProxy) {
  FakeApi api = with_service("NodePort", "Local");
  auto t = compute_trace(api.get(), {"outside", "192.168.5.11", "tcp", 30080});
  ASSERT_TRUE(t) << t.error().message();
  EXPECT_EQ(t->at("result"), "lost");
  EXPECT_EQ(t->at("lost_at"), "service proxy");
  EXPECT_NE(std::string(t->at("reason").as_string()).find("Local"), std::string::npos) << json::serialize(*t);
}

TEST(TraceTest, OutsideToLoadBalancerEntersAtTheAnnouncingNodeAndKeepsTheClientWithLocal) {
  FakeApi api = with_service("LoadBalancer", "Local");
  auto t = compute_trace(api.get(), {"outside/203.0.113.9", "svc/default/web"});
  ASSERT_TRUE(t) << t.error().message();
  EXPECT_EQ(t->at("result"), "delivered") << json::serialize(*t);
  EXPECT_EQ(t->at("dst").at("ip"), "192.168.5.240");
  EXPECT_EQ(hop_names(*t).front(), "underlay@node2") << json::serialize(*t);
  const auto& proxy = find(*t, "service proxy")->at("evidence");
  EXPECT_EQ(proxy.at("kind"), "loadBalancer");
  EXPECT_EQ(proxy.at("masquerade"), false);
  EXPECT_NE(std::string(find(*t, "masquerade")->at("detail").as_string()).find("203.0.113.9"),
            std::string::npos);
  EXPECT_EQ(find(*t, "vxlan tunnel"), nullptr);
}

TEST(TraceTest, DefaultDenyIngressIsLostAtThePolicyNamingIt) {
  FakeApi api = two_nodes();
  api.docs["/apis/networking.k8s.io/v1/namespaces/default/networkpolicies"] =
      R"({"items":[{"metadata":{"name":"deny","namespace":"default"},"spec":{"podSelector":{},"policyTypes":["Ingress"]}}]})";
  auto t = compute_trace(api.get(), {"default/a", "default/c", "tcp", 8080});
  ASSERT_TRUE(t) << t.error().message();
  EXPECT_EQ(t->at("result"), "lost");
  EXPECT_EQ(t->at("lost_at"), "policy ingress") << json::serialize(*t);
  EXPECT_NE(std::string(t->at("reason").as_string()).find("default/deny"), std::string::npos);
  const auto& ev = find(*t, "policy ingress")->at("evidence");
  EXPECT_EQ(ev.at("selecting").as_array().size(), 1u);
  EXPECT_EQ(ev.at("allowed"), false);
  // Egress is not isolated by an ingress-only policy.
  EXPECT_EQ(find(*t, "policy egress")->at("evidence").at("isolated"), false);
}

TEST(TraceTest, ContainerToContainerStaysInThePod) {
  FakeApi api = two_nodes();
  auto t = compute_trace(api.get(), {"default/a", "localhost", "tcp", 8080});
  ASSERT_TRUE(t) << t.error().message();
  EXPECT_EQ(t->at("problem"), "container-to-container");
  EXPECT_EQ(hop_names(*t), (std::vector<std::string>{"pod lo@node1"}));
  EXPECT_EQ(t->at("result"), "delivered");
}

}  // namespace
}  // namespace podnet::troubleshoot
