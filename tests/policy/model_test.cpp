#include "policy/model.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "policy/fixtures.h"

namespace podnet::policy {
namespace {

namespace json = boost::json;
using testing::policy_json;

Result<NetworkPolicy> decode(const char* spec_text) {
  return decode_network_policy(policy_json("ns1", "p", json::parse(spec_text).as_object()));
}

TEST(PolicyModel, PolicyTypesDefault) {
  auto np = decode(R"({"podSelector":{}})");
  ASSERT_TRUE(np) << np.error().message();
  EXPECT_TRUE(np->ingress);
  EXPECT_FALSE(np->egress);
  np = decode(R"({"podSelector":{},"egress":[{}]})");
  ASSERT_TRUE(np);
  EXPECT_TRUE(np->ingress);
  EXPECT_TRUE(np->egress);
  np = decode(R"({"podSelector":{},"policyTypes":["Egress"]})");
  ASSERT_TRUE(np);
  EXPECT_FALSE(np->ingress);
  EXPECT_TRUE(np->egress);
}

TEST(PolicyModel, FullRule) {
  auto np = decode(R"({"podSelector":{"matchLabels":{"a":"b"}},
    "ingress":[{"from":[{"podSelector":{"matchExpressions":[{"key":"x","operator":"In","values":["2","1"]}]},
                         "namespaceSelector":{}},
                        {"ipBlock":{"cidr":"10.0.0.0/8","except":["10.1.0.0/16"]}}],
                "ports":[{"port":80},{"protocol":"UDP","port":"dns"},{"port":1000,"endPort":2000},{"protocol":"SCTP"}]}]})");
  ASSERT_TRUE(np) << np.error().message();
  ASSERT_EQ(np->ingress_rules.size(), 1u);
  const auto& r = np->ingress_rules[0];
  ASSERT_EQ(r.peers.size(), 2u);
  EXPECT_TRUE(r.peers[0].pod_selector && r.peers[0].namespace_selector);
  EXPECT_EQ(r.peers[0].pod_selector->expressions[0].values, (std::vector<std::string>{"1", "2"}));
  ASSERT_TRUE(r.peers[1].ip_block);
  EXPECT_EQ(r.peers[1].ip_block->except.size(), 1u);
  ASSERT_EQ(r.ports.size(), 4u);
  EXPECT_EQ(r.ports[1].protocol, Protocol::kUdp);
  EXPECT_EQ(std::get<std::string>(*r.ports[1].port), "dns");
  EXPECT_EQ(r.ports[2].end_port, 2000);
  EXPECT_FALSE(r.ports[3].port);
}

TEST(PolicyModel, BadInputIsRefusedWithTheField) {
  struct Case {
    const char* spec;
    const char* field;
  } cases[] = {
      {R"({"ingress":[{"from":[{"ipBlock":{"cidr":"10.0.0.0/33"}}]}]})",
       "spec.ingress[0].from[0].ipBlock.cidr"},
      {R"({"ingress":[{"from":[{"ipBlock":{"cidr":"10.0.0.0/8","except":["11.0.0.0/16"]}}]}]})", "except[0]"},
      {R"({"ingress":[{"ports":[{"port":70000}]}]})", "spec.ingress[0].ports[0].port"},
      {R"({"ingress":[{"ports":[{"port":0}]}]})", "ports[0].port"},
      {R"({"ingress":[{"ports":[{"protocol":"ICMP"}]}]})", "ports[0].protocol"},
      {R"({"ingress":[{"ports":[{"port":"Bad_Name"}]}]})", "ports[0].port"},
      {R"({"ingress":[{"ports":[{"port":90,"endPort":80}]}]})", "endPort"},
      {R"({"ingress":[{"ports":[{"port":"http","endPort":80}]}]})", "endPort"},
      {R"({"podSelector":{"matchExpressions":[{"key":"a","operator":"Bogus"}]}})", "operator"},
      {R"({"podSelector":{"matchExpressions":[{"key":"a","operator":"In"}]}})", "values"},
      {R"({"podSelector":{"matchLabels":{"a":1}}})", "matchLabels.a"},
      {R"({"policyTypes":["Sideways"]})", "policyTypes"},
      {R"({"ingress":[{"from":[{}]}]})", "from[0]"},
      {R"({"ingress":"all"})", "spec.ingress"},
  };
  for (const auto& c : cases) {
    auto np = decode(c.spec);
    ASSERT_FALSE(np) << c.spec;
    EXPECT_NE(np.error().message().find(c.field), std::string::npos) << np.error().message();
    EXPECT_NE(np.error().message().find("ns1/p"), std::string::npos) << np.error().message();
  }
  EXPECT_FALSE(decode_network_policy(json::value("x")));
  EXPECT_FALSE(decode_network_policy(json::parse(R"({"metadata":{"name":"p"},"spec":{}})")));
}

TEST(PolicyModel, SelectorSemantics) {
  auto np = decode(R"({"podSelector":{"matchLabels":{"app":"web"},"matchExpressions":[
      {"key":"tier","operator":"NotIn","values":["db"]},{"key":"env","operator":"Exists"},
      {"key":"old","operator":"DoesNotExist"}]}})");
  ASSERT_TRUE(np);
  const auto& s = np->pod_selector;
  EXPECT_TRUE(s.matches({{"app", "web"}, {"env", "x"}}));
  EXPECT_TRUE(s.matches({{"app", "web"}, {"env", "x"}, {"tier", "fe"}}));
  EXPECT_FALSE(s.matches({{"app", "web"}, {"env", "x"}, {"tier", "db"}}));
  EXPECT_FALSE(s.matches({{"app", "web"}}));
  EXPECT_FALSE(s.matches({{"app", "web"}, {"env", "x"}, {"old", ""}}));
  EXPECT_TRUE(LabelSelector{}.matches({}));
}

TEST(PolicyModel, PodsAreDecodedLeniently) {
  auto p =
      decode_pod(testing::pod_json("ns1", "a", "node1", "10.244.1.5", {{"app", "web"}},
                                   json::array{{{"name", "http"}, {"containerPort", 80}},
                                               {{"name", "dns"}, {"containerPort", 53}, {"protocol", "UDP"}},
                                               {{"name", "bad"}, {"containerPort", 99999}},
                                               {{"containerPort", 81}}}));
  ASSERT_TRUE(p) << p.error().message();
  EXPECT_EQ(p->ips.size(), 1u);
  EXPECT_EQ(p->ports.size(), 2u);
  EXPECT_TRUE(p->is_subject());
  auto bad = testing::pod_json("ns1", "b", "node1", "not-an-ip");
  EXPECT_FALSE(decode_pod(bad));
  auto n = decode_namespace(testing::ns_json("ns1", {{"team", "a"}}));
  ASSERT_TRUE(n);
  EXPECT_EQ(n->labels.at("kubernetes.io/metadata.name"), "ns1");
}

}  // namespace
}  // namespace podnet::policy
