// policy::explain, the verdict `podnet trace` shows for one 5-tuple: Kubernetes' NetworkPolicy
// semantics case by case (selection per direction, peers by pod/namespace selector or ipBlock,
// ports by number, range or name), on policies decoded from API JSON as the agent decodes them.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "policy/explain.h"

namespace podnet::policy {
namespace {

namespace json = boost::json;

NetworkPolicy np(const std::string& text) {
  auto p = decode_network_policy(json::parse(text));
  EXPECT_TRUE(p) << p.error().message();
  return *p;
}

PolicyEnd pod(const std::string& ns, const std::string& name, const std::string& ip, Labels labels,
              Labels ns_labels = {}) {
  Pod p;
  p.namespace_ = ns;
  p.name = name;
  p.labels = std::move(labels);
  p.ips = {*parse_ip(ip)};
  p.ports = {{"http", Protocol::kTcp, 8080}};
  ns_labels["kubernetes.io/metadata.name"] = ns;
  return PolicyEnd{p, ns_labels, *parse_ip(ip)};
}

PolicyEnd address(const std::string& ip) {
  return PolicyEnd{std::nullopt, {}, *parse_ip(ip)};
}

const std::string kWeb = R"("podSelector":{"matchLabels":{"app":"web"}})";

TEST(PolicyExplain, NotSelectedIsAllowedAndNamesNothing) {
  auto v =
      explain({np(R"({"metadata":{"name":"p","namespace":"f"},"spec":{)" + kWeb + "}}")}, true,
              pod("f", "db", "10.0.0.2", {{"app", "db"}}), pod("f", "c", "10.0.0.3", {}), Protocol::kTcp, 80);
  EXPECT_FALSE(v.isolated);
  EXPECT_TRUE(v.allowed);
  EXPECT_TRUE(v.selecting.empty());
}

TEST(PolicyExplain, RulesByPodNamespaceAndBothSelectors) {
  auto policy = np(R"({"metadata":{"name":"p","namespace":"f"},"spec":{)" + kWeb + R"(,"ingress":[
      {"from":[{"podSelector":{"matchLabels":{"role":"client"}}}]},
      {"from":[{"namespaceSelector":{"matchLabels":{"team":"a"}}}]},
      {"from":[{"namespaceSelector":{"matchLabels":{"team":"a"}},"podSelector":{"matchLabels":{"role":"x"}}}]}]}})");
  auto web = pod("f", "web", "10.0.0.2", {{"app", "web"}});
  // Same namespace, role=client: rule 0 only.
  auto v = explain({policy}, true, web, pod("f", "c", "10.0.0.3", {{"role", "client"}}), Protocol::kTcp, 80);
  EXPECT_TRUE(v.isolated);
  EXPECT_TRUE(v.allowed);
  EXPECT_EQ(v.selecting, std::vector<std::string>{"f/p"});
  ASSERT_EQ(v.allowed_by.size(), 1u);
  EXPECT_EQ(v.allowed_by[0].rule, 0);
  // Other namespace labelled team=a, role=x: rules 1 and 2; role=client there: rule 1 only.
  v = explain({policy}, true, web, pod("g", "x", "10.0.1.3", {{"role", "x"}}, {{"team", "a"}}),
              Protocol::kTcp, 80);
  ASSERT_EQ(v.allowed_by.size(), 2u);
  EXPECT_EQ(v.allowed_by[1].rule, 2);
  v = explain({policy}, true, web, pod("g", "y", "10.0.1.4", {{"role", "client"}}, {{"team", "a"}}),
              Protocol::kTcp, 80);
  ASSERT_EQ(v.allowed_by.size(), 1u);
  EXPECT_EQ(v.allowed_by[0].rule, 1);
  // A pod selector alone never reaches into another namespace; a node address matches no selector.
  v = explain({policy}, true, web, pod("h", "c", "10.0.2.3", {{"role", "client"}}), Protocol::kTcp, 80);
  EXPECT_FALSE(v.allowed);
  EXPECT_FALSE(explain({policy}, true, web, address("192.168.5.11"), Protocol::kTcp, 80).allowed);
}

TEST(PolicyExplain, IpBlockWithExceptAndPorts) {
  auto policy = np(R"({"metadata":{"name":"p","namespace":"f"},"spec":{)" + kWeb + R"(,"ingress":[
      {"from":[{"ipBlock":{"cidr":"192.168.0.0/16","except":["192.168.9.0/24"]}}],
       "ports":[{"protocol":"TCP","port":"http"},{"protocol":"UDP","port":5000,"endPort":5010}]}]}})");
  auto web = pod("f", "web", "10.0.0.2", {{"app", "web"}});
  EXPECT_TRUE(explain({policy}, true, web, address("192.168.5.11"), Protocol::kTcp, 8080).allowed);
  EXPECT_FALSE(
      explain({policy}, true, web, address("192.168.9.11"), Protocol::kTcp, 8080).allowed);          // except
  EXPECT_FALSE(explain({policy}, true, web, address("192.168.5.11"), Protocol::kTcp, 80).allowed);   // port
  EXPECT_TRUE(explain({policy}, true, web, address("192.168.5.11"), Protocol::kUdp, 5007).allowed);  // range
  EXPECT_FALSE(explain({policy}, true, web, address("192.168.5.11"), Protocol::kUdp, 5011).allowed);
  EXPECT_FALSE(explain({policy}, true, web, address("192.168.5.11"), Protocol::kUdp, 8080).allowed);  // proto
}

TEST(PolicyExplain, EgressIsJudgedForTheSourceAndNamedPortsOnTheDestination) {
  auto deny_out = np(
      R"({"metadata":{"name":"deny-out","namespace":"f"},"spec":{"podSelector":{},"policyTypes":["Egress"]}})");
  auto to_web =
      np(R"({"metadata":{"name":"to-web","namespace":"f"},"spec":{"podSelector":{},"policyTypes":["Egress"],
      "egress":[{"to":[{"podSelector":{"matchLabels":{"app":"web"}}}],"ports":[{"port":"http"}]}]}})");
  auto client = pod("f", "c", "10.0.0.3", {});
  auto web = pod("f", "web", "10.0.0.2", {{"app", "web"}});
  auto v = explain({deny_out}, false, client, web, Protocol::kTcp, 8080);
  EXPECT_EQ(v.direction, "egress");
  EXPECT_TRUE(v.isolated);
  EXPECT_FALSE(v.allowed);
  v = explain({deny_out, to_web}, false, client, web, Protocol::kTcp, 8080);
  EXPECT_TRUE(v.allowed);
  EXPECT_EQ(v.selecting, (std::vector<std::string>{"f/deny-out", "f/to-web"}));
  ASSERT_EQ(v.allowed_by.size(), 1u);
  EXPECT_EQ(v.allowed_by[0].policy, "f/to-web");
  EXPECT_EQ(v.allowed_by[0].direction, "egress");
  EXPECT_FALSE(explain({deny_out, to_web}, false, client, web, Protocol::kTcp, 8081).allowed);
  // An egress-only policy leaves ingress open; a policy of another namespace selects nothing here.
  EXPECT_FALSE(explain({deny_out}, true, web, client, Protocol::kTcp, 8080).isolated);
  auto other = np(R"({"metadata":{"name":"x","namespace":"g"},"spec":{"podSelector":{}}})");
  EXPECT_FALSE(explain({other}, true, web, client, Protocol::kTcp, 8080).isolated);
  // A node is never a subject.
  EXPECT_FALSE(explain({deny_out}, false, address("192.168.5.11"), web, Protocol::kTcp, 8080).isolated);
}

}  // namespace
}  // namespace podnet::policy
