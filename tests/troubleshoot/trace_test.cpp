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
  auto pod = [](const std::string& name, const std::string& node, const std::string& ip) {
    return R"({"metadata":{"name":")" + name + R"(","namespace":"default"},"spec":{"nodeName":")" + node +
           R"("},"status":{"podIP":")" + ip + R"("}})";
  };
  api.docs["/api/v1/namespaces/default/pods/a"] = pod("a", "node1", "10.244.0.5");
  api.docs["/api/v1/namespaces/default/pods/c"] = pod("c", "node2", "10.244.1.5");
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
  EXPECT_EQ(hops, (std::vector<std::string>{"pod eth0", "fast path", "route", "vxlan tunnel", "masquerade",
                                            "pod veth"}));
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

}  // namespace
}  // namespace podnet::troubleshoot
