// What full and partial syncs write: nft text and element batches computed from plans, no kernel.
#include "proxy/state.h"

#include <gtest/gtest.h>

#include "proxy/builders.h"
#include "proxy/planner.h"

namespace podnet::proxy {
namespace {

using namespace testing;

const NodeInfo kNode{"node-a", {ip("192.168.1.10")}};

ServicePlan web_plan(std::initializer_list<Ep> eps, bool affinity = false) {
  auto svc = cluster_ip_service("web", "10.96.0.1", {tcp_port("http", 80, 8080)});
  svc.affinity_client_ip = affinity;
  svc.affinity_timeout_seconds = 60;
  auto s = slice("web", eps, {slice_port("http", 8080)});
  const k8s::EndpointSlice* ptrs[] = {&s};
  return plan_service(svc, ptrs, kNode);
}

ServicePlan db_plan() {
  auto svc = cluster_ip_service("db", "10.96.0.2", {tcp_port("pg", 5432, 5432)});
  return plan_service(svc, std::span<const k8s::EndpointSlice* const>{}, kNode);
}

TEST(ProxyState, FullSyncWritesSkeletonChainsAndEveryElement) {
  ProxyState state;
  auto tx =
      state.full_sync({{"default/web", web_plan({{"10.1.0.1"}, {"10.1.0.2"}})}, {"default/db", db_plan()}},
                      {{Family::kIPv4, {"nat-prerouting", "svc-n40", "svc-n3"}}});
  EXPECT_NE(tx.before.find("table ip podnet-proxy {"), std::string::npos);
  EXPECT_NE(tx.before.find("table ip6 podnet-proxy {"), std::string::npos);
  EXPECT_NE(
      tx.before.find("add rule ip podnet-proxy filter-input ct state new ip daddr . meta l4proto . th dport "
                     "@no-endpoints reject"),
      std::string::npos);
  EXPECT_EQ(tx.before.find("ip6 podnet-proxy svc-n2"), std::string::npos) << "no IPv6 frontend needs it";
  EXPECT_EQ(tx.after, "delete chain ip podnet-proxy svc-n40\n") << "a chain left by an earlier run";
  const std::string elements = tx.elements_text(state.config());
  const std::string expected_tail =
      "add element ip podnet-proxy no-endpoints { 10.96.0.2 . tcp . 5432 }\n"
      "add element ip podnet-proxy service-ips { 10.96.0.1 . tcp . 80 : goto svc-n2 }\n"
      "add element ip podnet-proxy endpoints { 10.96.0.1 . tcp . 80 . 0 : 10.1.0.1 . 8080 }\n"
      "add element ip podnet-proxy endpoints { 10.96.0.1 . tcp . 80 . 1 : 10.1.0.2 . 8080 }\n"
      "add element ip podnet-proxy hairpin { 10.1.0.1 . 10.1.0.1 }\n"
      "add element ip podnet-proxy hairpin { 10.1.0.2 . 10.1.0.2 }\n";
  ASSERT_GE(elements.size(), expected_tail.size());
  EXPECT_EQ(elements.substr(elements.size() - expected_tail.size()), expected_tail);
  // The shared chain's rule is rewritten in the same batch, before the elements that jump to it.
  EXPECT_EQ(elements.find("flush map ip podnet-proxy service-ips\n"), 0u)
      << "what an earlier run left goes first";
  EXPECT_NE(elements.find("add chain ip podnet-proxy svc-n2\n"
                          "flush chain ip podnet-proxy svc-n2\n"
                          "add rule ip podnet-proxy svc-n2 dnat ip to ip daddr . meta l4proto . th dport . "
                          "numgen random mod 2 map @endpoints\n"),
            std::string::npos);
  // A chain of the same name left by an earlier run is kept as it is.
  EXPECT_EQ(elements.find("add chain ip podnet-proxy svc-n3\n"), std::string::npos);
  EXPECT_NE(elements.find("add rule ip podnet-proxy nat-prerouting ip daddr . meta l4proto . th dport vmap "
                          "@service-ips\n"),
            std::string::npos);
  EXPECT_EQ(state.services(), 2u);
  EXPECT_EQ(state.frontends(), 2u);
  EXPECT_EQ(state.endpoints(), 2u);
}

TEST(ProxyState, OneEndpointRemovedRewritesOnlyThatServicesElements) {
  ProxyState state;
  state.full_sync({{"default/web", web_plan({{"10.1.0.1"}, {"10.1.0.2"}})}, {"default/db", db_plan()}});
  auto tx = state.update("default/web", web_plan({{"10.1.0.2"}}));
  EXPECT_EQ(tx.full, nullptr);
  EXPECT_EQ(tx.elements_text(state.config()),
            "delete element ip podnet-proxy service-ips { 10.96.0.1 . tcp . 80 }\n"
            "delete element ip podnet-proxy endpoints { 10.96.0.1 . tcp . 80 . 0 }\n"
            "delete element ip podnet-proxy endpoints { 10.96.0.1 . tcp . 80 . 1 }\n"
            "delete element ip podnet-proxy hairpin { 10.1.0.1 . 10.1.0.1 }\n"
            "add element ip podnet-proxy service-ips { 10.96.0.1 . tcp . 80 : goto svc-n1 }\n"
            "add element ip podnet-proxy endpoints { 10.96.0.1 . tcp . 80 . 0 : 10.1.0.2 . 8080 }\n");
  // The service moved from svc-n2 to svc-n1, chains that always exist: no chain is made or deleted.
  EXPECT_TRUE(tx.before.empty()) << "no nft text: the whole change is one netlink batch";
  EXPECT_TRUE(tx.after.empty());
  EXPECT_EQ(state.endpoints(), 1u);
}

TEST(ProxyState, EndpointAddedKeepsExistingIndices) {
  ProxyState state;
  state.full_sync({{"default/web", web_plan({{"10.1.0.1"}})}});
  auto tx = state.update("default/web", web_plan({{"10.1.0.1"}, {"10.1.0.2"}}));
  EXPECT_EQ(tx.elements_text(state.config()),
            "delete element ip podnet-proxy service-ips { 10.96.0.1 . tcp . 80 }\n"
            "add element ip podnet-proxy service-ips { 10.96.0.1 . tcp . 80 : goto svc-n2 }\n"
            "add element ip podnet-proxy endpoints { 10.96.0.1 . tcp . 80 . 1 : 10.1.0.2 . 8080 }\n"
            "add element ip podnet-proxy hairpin { 10.1.0.2 . 10.1.0.2 }\n");
}

TEST(ProxyState, ReplacedEndpointTakesTheFreedIndexOnly) {
  ProxyState state;
  state.full_sync({{"default/web", web_plan({{"10.1.0.1"}, {"10.1.0.2"}, {"10.1.0.3"}})}});
  auto tx = state.update("default/web", web_plan({{"10.1.0.1"}, {"10.1.0.3"}, {"10.1.0.4"}}));
  EXPECT_EQ(tx.elements_text(state.config()),
            "delete element ip podnet-proxy endpoints { 10.96.0.1 . tcp . 80 . 1 }\n"
            "delete element ip podnet-proxy hairpin { 10.1.0.2 . 10.1.0.2 }\n"
            "add element ip podnet-proxy endpoints { 10.96.0.1 . tcp . 80 . 1 : 10.1.0.4 . 8080 }\n"
            "add element ip podnet-proxy hairpin { 10.1.0.4 . 10.1.0.4 }\n");
  // Dropping the endpoint at the last index only shrinks the modulus.
  tx = state.update("default/web", web_plan({{"10.1.0.1"}, {"10.1.0.4"}}));
  EXPECT_EQ(tx.elements_text(state.config()),
            "delete element ip podnet-proxy service-ips { 10.96.0.1 . tcp . 80 }\n"
            "delete element ip podnet-proxy endpoints { 10.96.0.1 . tcp . 80 . 2 }\n"
            "delete element ip podnet-proxy hairpin { 10.1.0.3 . 10.1.0.3 }\n"
            "add element ip podnet-proxy service-ips { 10.96.0.1 . tcp . 80 : goto svc-n2 }\n");
}

TEST(ProxyState, RemoteEndpointsNeedNoHairpin) {
  ProxyState state;
  auto tx = state.full_sync({{"default/web", web_plan({{"10.2.0.1", true, true, false, "node-b"}})}});
  EXPECT_EQ(tx.elements_text(state.config()).find("add element ip podnet-proxy hairpin"), std::string::npos);
}

TEST(ProxyState, UnchangedServiceWritesNothing) {
  ProxyState state;
  state.full_sync({{"default/web", web_plan({{"10.1.0.1"}})}});
  EXPECT_TRUE(state.update("default/web", web_plan({{"10.1.0.1"}})).empty());
}

TEST(ProxyState, LastEndpointGoneMovesFrontendToReject) {
  ProxyState state;
  state.full_sync({{"default/web", web_plan({{"10.1.0.1"}})}});
  auto tx = state.update("default/web", web_plan({}));
  EXPECT_EQ(tx.elements_text(state.config()),
            "delete element ip podnet-proxy service-ips { 10.96.0.1 . tcp . 80 }\n"
            "delete element ip podnet-proxy endpoints { 10.96.0.1 . tcp . 80 . 0 }\n"
            "delete element ip podnet-proxy hairpin { 10.1.0.1 . 10.1.0.1 }\n"
            "add element ip podnet-proxy no-endpoints { 10.96.0.1 . tcp . 80 }\n");
}

TEST(ProxyState, DeletedServiceRemovesItsElements) {
  ProxyState state;
  state.full_sync({{"default/web", web_plan({{"10.1.0.1"}})}, {"default/db", db_plan()}});
  auto tx = state.update("default/db", std::nullopt);
  EXPECT_EQ(tx.elements_text(state.config()),
            "delete element ip podnet-proxy no-endpoints { 10.96.0.2 . tcp . 5432 }\n");
  EXPECT_TRUE(tx.before.empty());
  EXPECT_TRUE(tx.after.empty());
  EXPECT_EQ(state.services(), 1u);
}

TEST(ProxyState, SharedEndpointKeepsHairpinUntilLastUserGoes) {
  ProxyState state;
  auto other = cluster_ip_service("other", "10.96.0.3", {tcp_port("http", 81, 8080)});
  auto s = slice("other", {{"10.1.0.1"}}, {slice_port("http", 8080)});
  const k8s::EndpointSlice* ptrs[] = {&s};
  state.full_sync(
      {{"default/web", web_plan({{"10.1.0.1"}})}, {"default/other", plan_service(other, ptrs, kNode)}});
  auto tx = state.update("default/web", std::nullopt);
  EXPECT_EQ(tx.elements_text(state.config()).find("hairpin"), std::string::npos);
  tx = state.update("default/other", std::nullopt);
  EXPECT_NE(
      tx.elements_text(state.config()).find("delete element ip podnet-proxy hairpin { 10.1.0.1 . 10.1.0.1 }"),
      std::string::npos);
  EXPECT_EQ(tx.elements_text(state.config()).find("delete chain"), std::string::npos)
      << "chains for up to " << kPreparedEndpointCounts << " endpoints stay";
}

ServicePlan big_plan(int endpoints) {
  std::vector<Backend> backends;
  for (int i = 0; i < endpoints; ++i)
    backends.push_back({Ip::from(ip("10.3.0.1")), static_cast<uint16_t>(1000 + i)});
  FrontendPlan fp;
  fp.frontend = {Ip::from(ip("10.96.0.9")), 6, 80};
  fp.backends = backends;
  fp.masquerade = true;
  return ServicePlan{{fp}, {}};
}

TEST(ProxyState, ChainsForLargeServicesComeAndGoWithThem) {
  ProxyState state;
  state.full_sync({});
  auto tx = state.update("default/big", big_plan(20));
  const std::string text = tx.elements_text(state.config());
  // The masquerading variant marks, then goes to the plain chain, which alone uses the big map.
  EXPECT_EQ(
      text.find("add chain ip podnet-proxy svc-n20\n"
                "flush chain ip podnet-proxy svc-n20\n"
                "add rule ip podnet-proxy svc-n20 dnat ip to ip daddr . meta l4proto . th dport . numgen "
                "random mod 20 map @endpoints\n"
                "add chain ip podnet-proxy svc-n20-masq\n"
                "flush chain ip podnet-proxy svc-n20-masq\n"
                "add rule ip podnet-proxy svc-n20-masq meta mark set meta mark | 0x4000\n"
                "add rule ip podnet-proxy svc-n20-masq goto svc-n20\n"),
      0u)
      << text;
  EXPECT_NE(text.find("add element ip podnet-proxy service-ips { 10.96.0.9 . tcp . 80 : goto svc-n20-masq }"),
            std::string::npos);
  tx = state.update("default/big", big_plan(19));
  const std::string shrink = tx.elements_text(state.config());
  auto tail =
      "delete chain ip podnet-proxy svc-n20-masq\n"
      "delete chain ip podnet-proxy svc-n20\n";
  ASSERT_GT(shrink.size(), std::string(tail).size());
  EXPECT_EQ(shrink.substr(shrink.size() - std::string(tail).size()), tail)
      << "variant first: it goes to the plain one";
}

TEST(ProxyState, AffinityGroupCreatedAndStickyMapFlushedWhenAnEndpointGoes) {
  ProxyState state;
  state.full_sync({});
  auto tx = state.update("default/web", web_plan({{"10.1.0.1"}, {"10.1.0.2"}}, true));
  EXPECT_NE(tx.before.find("add map ip podnet-proxy sticky-60 { type ipv4_addr . inet_proto . inet_service . "
                           "ipv4_addr : ipv4_addr . inet_service; flags dynamic,timeout; timeout 60s; }"),
            std::string::npos);
  EXPECT_NE(tx.before.find("@affinity-60 update @sticky-60"), std::string::npos);
  EXPECT_NE(tx.elements_text(state.config())
                .find("add element ip podnet-proxy affinity-60 { 10.96.0.1 . tcp . 80 }"),
            std::string::npos);

  tx = state.update("default/web", web_plan({{"10.1.0.1"}}, true));
  EXPECT_NE(tx.elements_text(state.config()).find("flush map ip podnet-proxy sticky-60\n"),
            std::string::npos);

  tx = state.update("default/web", std::nullopt);
  // The chain that looks the sticky map up goes in the batch, the group after it.
  EXPECT_NE(tx.elements_text(state.config()).find("delete chain ip podnet-proxy svc-n1-aff60\n"),
            std::string::npos);
  EXPECT_NE(tx.after.find("delete set ip podnet-proxy affinity-60\n"), std::string::npos);
  EXPECT_EQ(tx.after.find("@affinity-60"), std::string::npos) << "postrouting no longer refers to the group";
}

}  // namespace
}  // namespace podnet::proxy
