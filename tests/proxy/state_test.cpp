// What full and partial syncs write: nft text and element batches computed from plans, no kernel.
#include "proxy/state.h"

#include <gtest/gtest.h>

#include "proxy/builders.h"
#include "proxy/planner.h"

namespace podnet::proxy {
namespace {

using namespace testing;

const NodeInfo kNode{"node-a", {ip("192.168.1.10")}};

// Everything in one table: the layout the exact texts below describe (shards are tested at the end).
RulesetConfig one_table() {
  RulesetConfig cfg;
  cfg.shards = 1;
  return cfg;
}

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
  ProxyState state(one_table());
  auto tx =
      state.full_sync({{"default/web", web_plan({{"10.1.0.1"}, {"10.1.0.2"}})}, {"default/db", db_plan()}},
                      {{Family::kIPv4, {{"podnet-proxy", {"nat-prerouting", "svc-n40", "svc-n3"}}}}});
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
  ProxyState state(one_table());
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
  ProxyState state(one_table());
  state.full_sync({{"default/web", web_plan({{"10.1.0.1"}})}});
  auto tx = state.update("default/web", web_plan({{"10.1.0.1"}, {"10.1.0.2"}}));
  EXPECT_EQ(tx.elements_text(state.config()),
            "delete element ip podnet-proxy service-ips { 10.96.0.1 . tcp . 80 }\n"
            "add element ip podnet-proxy service-ips { 10.96.0.1 . tcp . 80 : goto svc-n2 }\n"
            "add element ip podnet-proxy endpoints { 10.96.0.1 . tcp . 80 . 1 : 10.1.0.2 . 8080 }\n"
            "add element ip podnet-proxy hairpin { 10.1.0.2 . 10.1.0.2 }\n");
}

TEST(ProxyState, ReplacedEndpointTakesTheFreedIndexOnly) {
  ProxyState state(one_table());
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
  ProxyState state(one_table());
  auto tx = state.full_sync({{"default/web", web_plan({{"10.2.0.1", true, true, false, "node-b"}})}});
  EXPECT_EQ(tx.elements_text(state.config()).find("add element ip podnet-proxy hairpin"), std::string::npos);
}

TEST(ProxyState, UnchangedServiceWritesNothing) {
  ProxyState state(one_table());
  state.full_sync({{"default/web", web_plan({{"10.1.0.1"}})}});
  EXPECT_TRUE(state.update("default/web", web_plan({{"10.1.0.1"}})).empty());
}

TEST(ProxyState, LastEndpointGoneMovesFrontendToReject) {
  ProxyState state(one_table());
  state.full_sync({{"default/web", web_plan({{"10.1.0.1"}})}});
  auto tx = state.update("default/web", web_plan({}));
  EXPECT_EQ(tx.elements_text(state.config()),
            "delete element ip podnet-proxy service-ips { 10.96.0.1 . tcp . 80 }\n"
            "delete element ip podnet-proxy endpoints { 10.96.0.1 . tcp . 80 . 0 }\n"
            "delete element ip podnet-proxy hairpin { 10.1.0.1 . 10.1.0.1 }\n"
            "add element ip podnet-proxy no-endpoints { 10.96.0.1 . tcp . 80 }\n");
}

TEST(ProxyState, DeletedServiceRemovesItsElements) {
  ProxyState state(one_table());
  state.full_sync({{"default/web", web_plan({{"10.1.0.1"}})}, {"default/db", db_plan()}});
  auto tx = state.update("default/db", std::nullopt);
  EXPECT_EQ(tx.elements_text(state.config()),
            "delete element ip podnet-proxy no-endpoints { 10.96.0.2 . tcp . 5432 }\n");
  EXPECT_TRUE(tx.before.empty());
  EXPECT_TRUE(tx.after.empty());
  EXPECT_EQ(state.services(), 1u);
}

TEST(ProxyState, SharedEndpointKeepsHairpinUntilLastUserGoes) {
  ProxyState state(one_table());
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
  ProxyState state(one_table());
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
  ProxyState state(one_table());
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

// Sharded layout: what a service writes goes to its own shard table; the base table keeps the
// per-node sets and the rules every packet meets.
RulesetConfig four_shards() {
  RulesetConfig cfg;
  cfg.shards = 4;
  return cfg;
}

TEST(ShardedState, ShardOfAServiceIsStableAndSpread) {
  const auto cfg = four_shards();
  EXPECT_EQ(shard_of("default/web", cfg), shard_of("default/web", cfg));
  std::set<uint32_t> seen;
  for (int i = 0; i < 100; ++i) {
    uint32_t shard = shard_of("bench/svc-" + std::to_string(i), cfg);
    EXPECT_LT(shard, 4u);
    seen.insert(shard);
  }
  EXPECT_EQ(seen.size(), 4u);
  EXPECT_EQ(shard_of("default/web", one_table()), 0u);
  EXPECT_EQ(shard_table(2, cfg), "podnet-proxy-2");
  EXPECT_EQ(shard_table(0, one_table()), "podnet-proxy");
  EXPECT_EQ(parse_shard_table("podnet-proxy-12", cfg), 12u);
  EXPECT_EQ(parse_shard_table("podnet-proxy", cfg), std::nullopt);
  EXPECT_EQ(parse_shard_table("podnet-proxy-x", cfg), std::nullopt);
  EXPECT_EQ(parse_shard_table("podnet-agent", cfg), std::nullopt);
}

TEST(ShardedState, FullSyncWritesEveryShardInOneBatch) {
  ProxyState state(four_shards());
  const std::string web = "podnet-proxy-" + std::to_string(shard_of("default/web", state.config()));
  auto tx =
      state.full_sync({{"default/web", web_plan({{"10.1.0.1"}, {"10.1.0.2"}})}, {"default/db", db_plan()}},
                      {{Family::kIPv4,
                        {{"podnet-proxy", {"nat-postrouting", "filter-input"}},
                         {"podnet-proxy-1", {"nat-prerouting", "svc-n2", "svc-n40"}},
                         {"podnet-proxy-7", {"nat-prerouting"}},
                         {"podnet-agent", {"postrouting"}}}}});
  // Base table: rejects, hairpin, one masquerade rule for all shards; no service maps.
  EXPECT_NE(tx.before.find("table ip podnet-proxy {\n  set no-endpoints"), std::string::npos) << tx.before;
  EXPECT_NE(tx.before.find("add rule ip podnet-proxy nat-postrouting meta mark & 0x4000 != 0"),
            std::string::npos);
  EXPECT_EQ(tx.before.find("map service-ips", tx.before.find("table ip podnet-proxy {")),
            tx.before.find("map service-ips", tx.before.find("table ip podnet-proxy-0 {")))
      << "service-ips only in shard tables";
  for (int shard = 0; shard < 4; ++shard) {
    EXPECT_NE(tx.before.find("table ip podnet-proxy-" + std::to_string(shard) + " {\n  map service-ips"),
              std::string::npos);
    EXPECT_NE(tx.before.find("table ip6 podnet-proxy-" + std::to_string(shard) + " {"), std::string::npos);
  }
  EXPECT_EQ(tx.before.find("podnet-proxy-4"), std::string::npos);
  // A shard table beyond this run's count goes after the batch; a chain nothing wants goes too;
  // foreign tables are not touched.
  EXPECT_NE(tx.after.find("delete table ip podnet-proxy-7\n"), std::string::npos);
  EXPECT_NE(tx.after.find("delete chain ip podnet-proxy-1 svc-n40\n"), std::string::npos);
  EXPECT_EQ(tx.after.find("svc-n2\n"), std::string::npos);
  EXPECT_EQ(tx.after.find("podnet-agent"), std::string::npos);

  const std::string elements = tx.elements_text(state.config());
  EXPECT_NE(elements.find("add element ip " + web + " service-ips { 10.96.0.1 . tcp . 80 : goto svc-n2 }\n"),
            std::string::npos)
      << elements;
  EXPECT_NE(
      elements.find("add element ip " + web + " endpoints { 10.96.0.1 . tcp . 80 . 1 : 10.1.0.2 . 8080 }"),
      std::string::npos);
  EXPECT_NE(elements.find("add element ip podnet-proxy no-endpoints { 10.96.0.2 . tcp . 5432 }"),
            std::string::npos);
  EXPECT_NE(elements.find("add element ip podnet-proxy hairpin { 10.1.0.1 . 10.1.0.1 }"), std::string::npos);
  for (int shard = 0; shard < 4; ++shard) {
    const std::string t = "ip podnet-proxy-" + std::to_string(shard);
    EXPECT_NE(elements.find("flush map " + t + " service-ips\n"), std::string::npos);
    EXPECT_NE(
        elements.find("add rule " + t + " nat-output ip daddr . meta l4proto . th dport vmap @service-ips"),
        std::string::npos);
    // Each shard has its own prepared chains (a goto stays inside its table).
    EXPECT_EQ(elements.find("add chain " + t + " svc-n2\n") == std::string::npos, shard == 1)
        << "kept where it exists: " << t;
    EXPECT_NE(elements.find("add rule " + t + " svc-n3-masq goto svc-n3\n"), std::string::npos);
  }
}

TEST(ShardedState, OneTableLayoutOfAnEarlierRunIsReplaced) {
  ProxyState state(four_shards());
  auto tx = state.full_sync({}, {{Family::kIPv4, {{"podnet-proxy", {"nat-prerouting", "svc-n2"}}}}});
  EXPECT_EQ(tx.before.find("delete table ip podnet-proxy\n"), 0u);
  EXPECT_EQ(tx.after.find("svc-n2"), std::string::npos) << "gone with its table";

  ProxyState one(one_table());
  tx = one.full_sync({},
                     {{Family::kIPv4, {{"podnet-proxy", {"filter-input"}}, {"podnet-proxy-0", {"svc-n2"}}}}});
  EXPECT_NE(tx.after.find("delete table ip podnet-proxy-0\n"), std::string::npos);
}

TEST(ShardedState, EndpointCountChangeWritesOnlyItsShard) {
  ProxyState state(four_shards());
  state.full_sync({{"default/web", web_plan({{"10.1.0.1"}, {"10.1.0.2"}})}, {"default/db", db_plan()}});
  const std::string web = "podnet-proxy-" + std::to_string(shard_of("default/web", state.config()));
  auto tx = state.update("default/web", web_plan({{"10.1.0.1"}}));
  EXPECT_EQ(tx.elements_text(state.config()),
            "delete element ip " + web +
                " service-ips { 10.96.0.1 . tcp . 80 }\n"
                "delete element ip " +
                web +
                " endpoints { 10.96.0.1 . tcp . 80 . 1 }\n"
                "delete element ip podnet-proxy hairpin { 10.1.0.2 . 10.1.0.2 }\n"
                "add element ip " +
                web + " service-ips { 10.96.0.1 . tcp . 80 : goto svc-n1 }\n");
  EXPECT_TRUE(tx.before.empty());
  EXPECT_TRUE(tx.after.empty());
  tx = state.update("default/web", web_plan({}));
  EXPECT_NE(tx.elements_text(state.config())
                .find("add element ip podnet-proxy no-endpoints { 10.96.0.1 . tcp . 80 }"),
            std::string::npos);
}

TEST(ShardedState, AffinityLivesInTheServicesShard) {
  ProxyState state(four_shards());
  state.full_sync({});
  const std::string web = "podnet-proxy-" + std::to_string(shard_of("default/web", state.config()));
  auto tx = state.update("default/web", web_plan({{"10.1.0.1"}, {"10.1.0.2"}}, true));
  EXPECT_NE(tx.before.find("add map ip " + web + " sticky-60 {"), std::string::npos) << tx.before;
  EXPECT_NE(tx.before.find("add rule ip " + web +
                           " nat-postrouting meta l4proto { tcp, udp, sctp } ct status dnat"),
            std::string::npos);
  EXPECT_EQ(tx.before.find("masquerade"), std::string::npos) << "the base table masquerades, once";
  const std::string elements = tx.elements_text(state.config());
  EXPECT_NE(elements.find("add rule ip " + web +
                          " svc-n2-aff60 dnat ip to ip daddr . meta l4proto . th dport . "
                          "ip saddr map @sticky-60\n"),
            std::string::npos)
      << elements;
  EXPECT_NE(elements.find("add element ip " + web + " affinity-60 { 10.96.0.1 . tcp . 80 }"),
            std::string::npos);
  tx = state.update("default/web", web_plan({{"10.1.0.1"}}, true));
  EXPECT_NE(tx.elements_text(state.config()).find("flush map ip " + web + " sticky-60\n"), std::string::npos);
  tx = state.update("default/web", std::nullopt);
  EXPECT_NE(tx.after.find("delete set ip " + web + " affinity-60\n"), std::string::npos);
}

}  // namespace
}  // namespace podnet::proxy
