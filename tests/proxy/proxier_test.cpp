// The Proxier's sync policy against a fake kernel: first sync full, then partial syncs of only the
// changed services, rate limiting, and a full resync after a failure.
#include "proxy/proxier.h"

#include <gtest/gtest.h>

#include "proxy/builders.h"

namespace podnet::proxy {
namespace {

using namespace testing;
using std::chrono::milliseconds;

// One table, so that the texts below are those of docs/proxy.md's shape (shards: state_test).
RulesetConfig one_table() {
  RulesetConfig cfg;
  cfg.shards = 1;
  return cfg;
}

class FakeKernel : public ProxyKernel {
 public:
  Status apply(const Transaction& tx) override {
    full.push_back(tx.full != nullptr);
    elements.push_back(tx.elements_text(one_table()));
    if (fail_next) {
      fail_next = false;
      return fail("apply", EBUSY);
    }
    return {};
  }
  Result<ExistingChains> list_chains() override { return chains; }

  std::vector<bool> full;
  std::vector<std::string> elements;
  ExistingChains chains;
  bool fail_next = false;
};

class FakeConntrack : public Conntrack {
 public:
  Result<size_t> clear(std::span<const StaleFlow> flows) override {
    calls.emplace_back(flows.begin(), flows.end());
    if (fail_next) {
      fail_next = false;
      return fail("dump conntrack", EPERM);
    }
    return flows.size();
  }
  std::vector<std::vector<StaleFlow>> calls;
  bool fail_next = false;
};

class ProxierTest : public ::testing::Test {
 protected:
  ProxierTest()
      : proxier_(kernel_, ProxierOptions{{"node-a", {}}, one_table(), milliseconds(100)}, &conntrack_) {}

  void add_web_and_db() {
    proxier_.upsert_service(cluster_ip_service("web", "10.96.0.1", {tcp_port("http", 80, 8080)}));
    proxier_.upsert_slice(slice("web", {{"10.1.0.1"}}, {slice_port("http", 8080)}));
    proxier_.upsert_service(cluster_ip_service("db", "10.96.0.2", {tcp_port("pg", 5432, 5432)}));
  }

  FakeKernel kernel_;
  FakeConntrack conntrack_;
  Proxier proxier_;
  Proxier::Clock::time_point t0_{std::chrono::seconds(1000)};
};

TEST_F(ProxierTest, FirstSyncIsFullThenOnlyTheChangedServiceIsWritten) {
  add_web_and_db();
  ASSERT_EQ(proxier_.sync(t0_), true);
  EXPECT_EQ(kernel_.full, std::vector<bool>{true});
  EXPECT_EQ(proxier_.metrics().full_syncs, 1u);
  EXPECT_EQ(proxier_.metrics().services, 2u);
  EXPECT_EQ(proxier_.metrics().endpoints, 1u);

  proxier_.upsert_slice(slice("web", {{"10.1.0.1"}, {"10.1.0.2"}}, {slice_port("http", 8080)}));
  ASSERT_EQ(proxier_.sync(t0_ + milliseconds(100)), true);
  EXPECT_EQ(kernel_.full.back(), false);
  EXPECT_EQ(kernel_.elements.back().find("10.96.0.2"), std::string::npos) << "db did not change";
  EXPECT_NE(kernel_.elements.back().find(
                "add element ip podnet-proxy endpoints { 10.96.0.1 . tcp . 80 . 1 : 10.1.0.2 . 8080 }"),
            std::string::npos);
  EXPECT_EQ(proxier_.metrics().partial_syncs, 1u);
  EXPECT_EQ(proxier_.metrics().endpoints, 2u);
}

TEST_F(ProxierTest, SyncsAtMostOncePerInterval) {
  add_web_and_db();
  ASSERT_EQ(proxier_.sync(t0_), true);
  proxier_.delete_service("default", "db");
  EXPECT_EQ(proxier_.sync(t0_ + milliseconds(50)), false) << "too soon";
  EXPECT_TRUE(proxier_.pending());
  EXPECT_EQ(proxier_.next_sync_at(), t0_ + milliseconds(100));
  ASSERT_EQ(proxier_.sync(t0_ + milliseconds(100)), true);
  EXPECT_EQ(kernel_.elements.back(),
            "delete element ip podnet-proxy no-endpoints { 10.96.0.2 . tcp . 5432 }\n");
  EXPECT_EQ(proxier_.sync(t0_ + milliseconds(500)), false) << "nothing pending";
  EXPECT_EQ(kernel_.full.size(), 2u);
}

TEST_F(ProxierTest, FailedSyncMakesTheNextOneFull) {
  add_web_and_db();
  ASSERT_EQ(proxier_.sync(t0_), true);
  proxier_.delete_slice(slice("web", {}, {}));
  kernel_.fail_next = true;
  auto r = proxier_.sync(t0_ + milliseconds(100));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, EBUSY);
  EXPECT_NE(r.error().message().find("partial proxy sync"), std::string::npos);
  EXPECT_EQ(proxier_.metrics().failed_syncs, 1u);
  EXPECT_TRUE(proxier_.pending());
  ASSERT_EQ(proxier_.sync(t0_ + milliseconds(200)), true);
  EXPECT_EQ(kernel_.full.back(), true);
  EXPECT_NE(kernel_.elements.back().find("add element ip podnet-proxy no-endpoints { 10.96.0.1 . tcp . 80 }"),
            std::string::npos)
      << "web lost its only slice";
}

TEST_F(ProxierTest, SliceWithoutServiceWritesNothingUntilTheServiceArrives) {
  proxier_.upsert_slice(slice("web", {{"10.1.0.1"}}, {slice_port("http", 8080)}));
  ASSERT_EQ(proxier_.sync(t0_), true);
  EXPECT_EQ(proxier_.metrics().services, 0u);
  proxier_.upsert_service(cluster_ip_service("web", "10.96.0.1", {tcp_port("http", 80, 8080)}));
  ASSERT_EQ(proxier_.sync(t0_ + milliseconds(100)), true);
  EXPECT_NE(kernel_.elements.back().find(
                "add element ip podnet-proxy endpoints { 10.96.0.1 . tcp . 80 . 0 : 10.1.0.1 . 8080 }"),
            std::string::npos);
}

// What an informer that keeps no objects delivers for a slice gone from a relist: its namespace
// and name only, no service-name label. The Proxier finds the Service it filed the slice under.
TEST_F(ProxierTest, SliceDeletedByNamespaceAndNameAlone) {
  add_web_and_db();
  ASSERT_EQ(proxier_.sync(t0_), true);
  proxier_.delete_slice("default", "nope");  // never seen: nothing to do
  proxier_.delete_slice("other", "web-slice");
  EXPECT_FALSE(proxier_.pending());
  proxier_.delete_slice("default", "web-slice");
  ASSERT_EQ(proxier_.sync(t0_ + milliseconds(100)), true);
  EXPECT_NE(kernel_.elements.back().find("add element ip podnet-proxy no-endpoints { 10.96.0.1 . tcp . 80 }"),
            std::string::npos)
      << kernel_.elements.back();
  EXPECT_EQ(proxier_.metrics().endpoints, 0u);
}

// A slice whose kubernetes.io/service-name label changes leaves its old Service (and a later
// delete by name finds it under the new one).
TEST_F(ProxierTest, RelabelledSliceMovesToItsNewService) {
  add_web_and_db();
  ASSERT_EQ(proxier_.sync(t0_), true);
  auto moved = slice("web", {{"10.1.0.1"}}, {slice_port("pg", 8080)});
  moved.meta.labels[k8s::kServiceNameLabel] = "db";
  proxier_.upsert_slice(moved);
  ASSERT_EQ(proxier_.sync(t0_ + milliseconds(100)), true);
  const std::string& tx = kernel_.elements.back();
  EXPECT_NE(tx.find("add element ip podnet-proxy no-endpoints { 10.96.0.1 . tcp . 80 }"), std::string::npos)
      << tx;
  EXPECT_NE(tx.find("add element ip podnet-proxy endpoints { 10.96.0.2 . tcp . 5432 . 0 : 10.1.0.1 . 8080 }"),
            std::string::npos)
      << tx;
  proxier_.delete_slice("default", "web-slice");
  ASSERT_EQ(proxier_.sync(t0_ + milliseconds(200)), true);
  EXPECT_NE(
      kernel_.elements.back().find("add element ip podnet-proxy no-endpoints { 10.96.0.2 . tcp . 5432 }"),
      std::string::npos)
      << kernel_.elements.back();
}

StaleFlow flow(const char* vip, uint16_t port, std::optional<std::pair<const char*, uint16_t>> backend) {
  StaleFlow f{{Ip::from(ip(vip)), 17, port}, std::nullopt};
  if (backend) f.backend = Backend{Ip::from(ip(backend->first)), backend->second};
  return f;
}

TEST_F(ProxierTest, UdpFlowsToRemovedEndpointsAreClearedAfterTheRulesChange) {
  auto dns = cluster_ip_service("dns", "10.96.0.53", {});
  dns.ports = {{"dns", k8s::Protocol::kUdp, 53, int32_t{5353}, 0},
               {"dns-tcp", k8s::Protocol::kTcp, 53, int32_t{5353}, 0}};
  auto dns_slice = [](std::initializer_list<Ep> eps) {
    return slice("dns", eps, {slice_port("dns", 5353, k8s::Protocol::kUdp), slice_port("dns-tcp", 5353)});
  };
  proxier_.upsert_service(dns);
  proxier_.upsert_slice(dns_slice({{"10.1.0.1"}, {"10.1.0.2"}}));
  auto t = t0_;
  ASSERT_EQ(proxier_.sync(t), true);
  EXPECT_TRUE(conntrack_.calls.empty()) << "a full sync knows no earlier endpoints";

  proxier_.upsert_slice(dns_slice({{"10.1.0.2"}}));
  ASSERT_EQ(proxier_.sync(t += milliseconds(100)), true);
  ASSERT_EQ(conntrack_.calls.size(), 1u);
  EXPECT_EQ(conntrack_.calls.back(), (std::vector<StaleFlow>{flow("10.96.0.53", 53, {{"10.1.0.1", 5353}})}))
      << "only UDP, only the endpoint that left";
  EXPECT_EQ(kernel_.full.size(), 2u) << "cleared after the rules were written";

  proxier_.upsert_slice(dns_slice({}));
  ASSERT_EQ(proxier_.sync(t += milliseconds(100)), true);
  EXPECT_EQ(conntrack_.calls.back(), (std::vector<StaleFlow>{flow("10.96.0.53", 53, {{"10.1.0.2", 5353}})}));

  // Back from no endpoints: entries made while it rejected never went through DNAT.
  proxier_.upsert_slice(dns_slice({{"10.1.0.3"}}));
  ASSERT_EQ(proxier_.sync(t += milliseconds(100)), true);
  EXPECT_EQ(conntrack_.calls.back(), (std::vector<StaleFlow>{flow("10.96.0.53", 53, std::nullopt)}));

  proxier_.delete_service("default", "dns");
  ASSERT_EQ(proxier_.sync(t += milliseconds(100)), true);
  EXPECT_EQ(conntrack_.calls.back(), (std::vector<StaleFlow>{flow("10.96.0.53", 53, {{"10.1.0.3", 5353}})}));
  EXPECT_EQ(proxier_.metrics().conntrack_deleted, 4u);

  // An endpoint added to a served frontend leaves nothing stale.
  const size_t calls = conntrack_.calls.size();
  proxier_.upsert_service(cluster_ip_service("web", "10.96.0.1", {tcp_port("http", 80, 8080)}));
  proxier_.upsert_slice(slice("web", {{"10.1.0.1"}}, {slice_port("http", 8080)}));
  ASSERT_EQ(proxier_.sync(t += milliseconds(100)), true);
  EXPECT_EQ(conntrack_.calls.size(), calls) << "TCP needs no cleanup";
}

TEST_F(ProxierTest, StaleFlowsOfAFailedSyncAreClearedAfterTheFullResync) {
  auto dns = cluster_ip_service("dns", "10.96.0.53", {});
  dns.ports = {{"dns", k8s::Protocol::kUdp, 53, int32_t{5353}, 0}};
  proxier_.upsert_service(dns);
  proxier_.upsert_slice(
      slice("dns", {{"10.1.0.1"}, {"10.1.0.2"}}, {slice_port("dns", 5353, k8s::Protocol::kUdp)}));
  ASSERT_EQ(proxier_.sync(t0_), true);
  proxier_.upsert_slice(slice("dns", {{"10.1.0.2"}}, {slice_port("dns", 5353, k8s::Protocol::kUdp)}));
  kernel_.fail_next = true;
  ASSERT_FALSE(proxier_.sync(t0_ + milliseconds(100)));
  EXPECT_TRUE(conntrack_.calls.empty()) << "the rules may still lead to 10.1.0.1";
  ASSERT_EQ(proxier_.sync(t0_ + milliseconds(200)), true);
  EXPECT_EQ(kernel_.full.back(), true);
  ASSERT_EQ(conntrack_.calls.size(), 1u);
  EXPECT_EQ(conntrack_.calls.back(), (std::vector<StaleFlow>{flow("10.96.0.53", 53, {{"10.1.0.1", 5353}})}));
}

TEST_F(ProxierTest, FailedConntrackCleanupIsCountedNotResynced) {
  auto dns = cluster_ip_service("dns", "10.96.0.53", {});
  dns.ports = {{"dns", k8s::Protocol::kUdp, 53, int32_t{5353}, 0}};
  proxier_.upsert_service(dns);
  proxier_.upsert_slice(slice("dns", {{"10.1.0.1"}}, {slice_port("dns", 5353, k8s::Protocol::kUdp)}));
  ASSERT_EQ(proxier_.sync(t0_), true);
  proxier_.upsert_slice(slice("dns", {{"10.1.0.2"}}, {slice_port("dns", 5353, k8s::Protocol::kUdp)}));
  conntrack_.fail_next = true;
  ASSERT_EQ(proxier_.sync(t0_ + milliseconds(100)), true);
  EXPECT_EQ(proxier_.metrics().conntrack_failures, 1u);
  EXPECT_FALSE(proxier_.pending()) << "the rules are right; no full resync for this";
}

}  // namespace
}  // namespace podnet::proxy

namespace podnet::proxy {
namespace {

// docs/datapath.md section 4: the frontends the node serves itself (cluster DNS on lo) are in
// neither service-ips nor no-endpoints; the Service's other ports are proxied as usual.
TEST_F(ProxierTest, LocallyServedFrontendsAreLeftOut) {
  auto dns = cluster_ip_service("kube-dns", "10.96.0.10",
                                {tcp_port("dns-tcp", 53, 53), tcp_port("metrics", 9153, 9153)});
  dns.ports.push_back(dns.ports[0]);
  dns.ports.back().name = "dns";
  dns.ports.back().protocol = k8s::Protocol::kUdp;
  proxier_.upsert_service(dns);
  ASSERT_EQ(proxier_.sync(t0_), true);
  EXPECT_NE(kernel_.elements.back().find("no-endpoints { 10.96.0.10 . udp . 53 }"), std::string::npos);
  proxier_.set_local_frontends({{Ip::from(ip("10.96.0.10")), 17, 53}, {Ip::from(ip("10.96.0.10")), 6, 53}});
  ASSERT_EQ(proxier_.sync(t0_ + milliseconds(100)), true);
  const std::string& ops = kernel_.elements.back();
  EXPECT_NE(ops.find("delete element ip podnet-proxy no-endpoints { 10.96.0.10 . udp . 53 }"),
            std::string::npos)
      << ops;
  EXPECT_NE(ops.find("delete element ip podnet-proxy no-endpoints { 10.96.0.10 . tcp . 53 }"),
            std::string::npos)
      << ops;
  EXPECT_EQ(ops.find("9153"), std::string::npos) << "the metrics port stays as it was";
  // A full resync keeps them out too.
  kernel_.fail_next = true;
  proxier_.upsert_slice(slice("kube-dns", {{"10.1.0.9"}}, {slice_port("metrics", 9153)}));
  ASSERT_FALSE(proxier_.sync(t0_ + milliseconds(200)));
  ASSERT_EQ(proxier_.sync(t0_ + milliseconds(300)), true);
  EXPECT_EQ(kernel_.full.back(), true);
  EXPECT_EQ(kernel_.elements.back().find(". 53"), std::string::npos) << kernel_.elements.back();
  EXPECT_NE(kernel_.elements.back().find("10.96.0.10 . tcp . 9153"), std::string::npos);
}

}  // namespace
}  // namespace podnet::proxy
