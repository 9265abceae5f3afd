// The node API's request parser (agent/node_query.h): what it accepts, and how it refuses the rest.
#include "agent/node_query.h"

#include <gtest/gtest.h>

namespace podnet::agent {
namespace {

TEST(NodeQueryTest, AcceptsEachQueryWithItsParameters) {
  auto r = parse_node_query("/podnet/v1/routes?dst=10.244.1.5");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->kind, NodeQueryKind::kRoutes);
  EXPECT_EQ(r->dst->to_string(), "10.244.1.5");
  r = parse_node_query("/podnet/v1/fdb");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->kind, NodeQueryKind::kFdb);
  r = parse_node_query("/podnet/v1/nft?table=podnet-proxy-3&set=service%2Dips");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->kind, NodeQueryKind::kNft);
  EXPECT_EQ(r->family, "ip");  // the default
  EXPECT_EQ(r->table, "podnet-proxy-3");
  EXPECT_EQ(r->set, "service-ips");
  r = parse_node_query("/podnet/v1/fastpath?dst=fd00%3A%3A1");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->dst->to_string(), "fd00::1");
  r = parse_node_query("/podnet/v1/flows?since=30");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->kind, NodeQueryKind::kFlows);
  EXPECT_EQ(r->since_seconds, 30);
  r = parse_node_query("/podnet/v1/flows");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->since_seconds, 300);  // the default window
}

TEST(NodeQueryTest, FlowsWindowIsWholeSecondsUpToADay) {
  for (const char* bad : {"since=-1", "since=86401", "since=1e3", "since=", "since=5m",
                          "since=99999999999999999999", "dst=10.0.0.1"})
    EXPECT_FALSE(parse_node_query(std::string("/podnet/v1/flows?") + bad)) << bad;
  EXPECT_TRUE(parse_node_query("/podnet/v1/flows?since=86400"));
  EXPECT_TRUE(parse_node_query("/podnet/v1/flows?since=0"));
}

TEST(NodeQueryTest, ServiceFrontendNeedsAnAddressAndAPort) {
  auto r = parse_node_query("/podnet/v1/service?dst=10.96.0.10&proto=udp&port=53");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->kind, NodeQueryKind::kService);
  EXPECT_EQ(r->dst->to_string(), "10.96.0.10");
  EXPECT_EQ(r->proto, "udp");
  EXPECT_EQ(r->port, 53);
  r = parse_node_query("/podnet/v1/service?dst=10.96.0.10&port=53&service=kube-system%2Fkube-dns");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->service, "kube-system/kube-dns");
  r = parse_node_query("/podnet/v1/service?dst=fd00::a&port=80");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->proto, "tcp");
  for (const char* bad : {"dst=10.96.0.10", "port=80", "dst=10.96.0.10&port=0", "dst=10.96.0.10&port=65536",
                          "dst=10.96.0.10&port=80&proto=icmp", "dst=x&port=80", "dst=10.96.0.10&port=8%200",
                          "dst=10.96.0.10&port=80&port=81", "dst=10.96.0.10&port=80&set=a",
                          "dst=10.96.0.10&port=80&service=a", "dst=10.96.0.10&port=80&service=a/b/c",
                          "dst=10.96.0.10&port=80&service=A/b", "dst=10.96.0.10&port=80&service=/b"}) {
    auto b = parse_node_query(std::string("/podnet/v1/service?") + bad);
    ASSERT_FALSE(b) << bad;
    EXPECT_EQ(b.error().status, 400) << bad;
  }
}

TEST(NodeQueryTest, PolicyCountersOfANamespaceOrOnePolicy) {
  auto r = parse_node_query("/podnet/v1/policy?namespace=f&name=allow-web.v2");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->kind, NodeQueryKind::kPolicy);
  EXPECT_EQ(r->namespace_, "f");
  EXPECT_EQ(r->name, "allow-web.v2");
  r = parse_node_query("/podnet/v1/policy");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->namespace_.empty());
  for (const char* bad :
       {"name=x", "namespace=a_b", "namespace=a%20b", "namespace=", "since=3", "namespace=a&namespace=b"})
    EXPECT_FALSE(parse_node_query(std::string("/podnet/v1/policy?") + bad)) << bad;
}

TEST(NodeQueryTest, RefusesWhatItDoesNotKnowWithAStatusAndAReason) {
  struct Case {
    std::string target;
    int status;
    std::string says;
  };
  std::vector<Case> cases = {
      {"/podnet/v1/exec", 404, "unknown node API path"},
      {"/containerLogs/a/b/c", 404, "not a node API path"},
      {"/podnet/v1/nft?table=filter", 400, "only podnet's own tables"},
      {"/podnet/v1/nft?table=podnet-proxy;flush%20ruleset", 400, "only podnet's own tables"},
      {"/podnet/v1/nft?table=podnet%20proxy", 400, "only podnet's own tables"},
      {"/podnet/v1/nft?family=bridge&table=podnet", 400, "family"},
      {"/podnet/v1/nft", 400, "table is required"},
      {"/podnet/v1/nft?table=podnet&set=a%20b", 400, "set"},
      {"/podnet/v1/routes?dst=10.1.1", 400, "not an IP"},
      {"/podnet/v1/routes?dst=1.2.3.4&dst=1.2.3.5", 400, "twice"},
      {"/podnet/v1/routes?dst=%zz", 400, "percent"},
      {"/podnet/v1/routes?dst=%4", 400, "percent"},
      {"/podnet/v1/fdb?dst=1.2.3.4", 400, "unknown parameter"},
      {"/podnet/v1/routes?" + std::string(3000, 'a'), 400, "over 2048 bytes"},
  };
  for (const auto& c : cases) {
    auto r = parse_node_query(c.target);
    ASSERT_FALSE(r) << c.target.substr(0, 80);
    EXPECT_EQ(r.error().status, c.status) << c.target.substr(0, 80);
    EXPECT_NE(r.error().message.find(c.says), std::string::npos)
        << c.target.substr(0, 80) << ": " << r.error().message;
  }
}

}  // namespace
}  // namespace podnet::agent
