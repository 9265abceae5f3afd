// The Proxier's sync policy against a fake kernel: first sync full, then partial syncs of only the
// changed services, rate limiting, and a full resync after a failure.
#include "proxy/proxier.h"

#include <gtest/gtest.h>

#include "proxy/builders.h"

namespace podnet::proxy {
namespace {

using namespace testing;
using std::chrono::milliseconds;

class FakeKernel : public ProxyKernel {
 public:
  Status apply(const Transaction& tx) override {
    full.push_back(tx.full != nullptr);
    elements.push_back(tx.elements_text(RulesetConfig{}));
    if (fail_next) {
      fail_next = false;
      return fail("apply", EBUSY);
    }
    return {};
  }
  Result<std::map<Family, std::vector<std::string>>> list_chains() override { return chains; }

  std::vector<bool> full;
  std::vector<std::string> elements;
  std::map<Family, std::vector<std::string>> chains;
  bool fail_next = false;
};

class ProxierTest : public ::testing::Test {
 protected:
  ProxierTest() : proxier_(kernel_, ProxierOptions{{"node-a", {}}, RulesetConfig{}, milliseconds(100)}) {}

  void add_web_and_db() {
    proxier_.upsert_service(cluster_ip_service("web", "10.96.0.1", {tcp_port("http", 80, 8080)}));
    proxier_.upsert_slice(slice("web", {{"10.1.0.1"}}, {slice_port("http", 8080)}));
    proxier_.upsert_service(cluster_ip_service("db", "10.96.0.2", {tcp_port("pg", 5432, 5432)}));
  }

  FakeKernel kernel_;
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

}  // namespace
}  // namespace podnet::proxy
