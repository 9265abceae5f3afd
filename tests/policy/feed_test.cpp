// PolicyFeed's admission of new local pods with a fake kernel whose writes are slow (a busy node):
// pods that start together share syncs, each returns only once a write holding its address is in
// the kernel, and the wait stays bounded and fails closed when the kernel refuses.
#include "policy/feed.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/json.hpp>
#include <regex>
#include <thread>

#include "policy/fixtures.h"
#include "policy/metrics.h"

namespace podnet::policy {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using testing::ns_json;
using testing::pod_json;
using testing::policy_json;

class SlowKernel : public PolicyKernel {
 public:
  Status apply(std::string_view cmds) override {
    std::this_thread::sleep_for(delay);
    std::lock_guard l(mu);
    if (refuse) return fail_msg("nft: refused");
    written += cmds;
    written += '\n';
    ++writes;
    return {};
  }
  // Whether a write that is in the kernel named `ip` (not as the prefix of a longer address).
  bool wrote(const std::string& ip) {
    std::lock_guard l(mu);
    std::regex re(std::regex_replace(ip, std::regex("\\."), "\\.") + "(?![0-9])");
    return std::regex_search(written, re);
  }
  int count() {
    std::lock_guard l(mu);
    return writes;
  }
  std::chrono::milliseconds delay{20};
  std::mutex mu;
  std::string written;
  int writes = 0;
  bool refuse = false;
};

// A pod as the pod runner hands it over: no status yet (the address comes from CNI ADD).
json::value fresh_pod(const std::string& name) {
  json::value v = pod_json("a", name, "node1", "", {{"app", "web"}});
  v.as_object()["metadata"].as_object()["uid"] = "uid-" + name;
  v.as_object().erase("status");
  return v;
}

class PolicyFeedAdmit : public ::testing::Test {
 protected:
  PolicyFeedAdmit() : e_(kernel_, "node1", {}), feed_(e_) {}
  void SetUp() override {
    feed_.namespaces().on_upsert(ns_json("a"));
    feed_.policies().on_upsert(
        policy_json("a", "deny", json::parse(R"({"podSelector":{},"policyTypes":["Ingress"]})").as_object()));
    for (auto* h : {&feed_.pods(), &feed_.namespaces(), &feed_.policies()}) h->on_synced();
    feed_.set_own_ranges({parse_prefix("10.244.1.0/24").value()});
    thread_ = std::thread([this] { feed_.run(); });
    for (int i = 0; i < 500 && !feed_.synced_once(); ++i) std::this_thread::sleep_for(10ms);
    ASSERT_TRUE(feed_.synced_once());
  }
  void TearDown() override {
    feed_.stop();
    if (thread_.joinable()) thread_.join();
  }
  SlowKernel kernel_;
  Enforcer e_;
  PolicyFeed feed_;
  std::thread thread_;
};

TEST_F(PolicyFeedAdmit, PodsStartingTogetherShareSyncsAndEachWaitsForOneHoldingIt) {
  constexpr int kPods = 40;
  int writes_before = kernel_.count();
  std::atomic<int> ok = 0, early = 0;
  std::vector<std::thread> pods;
  for (int i = 0; i < kPods; ++i)
    pods.emplace_back([&, i] {
      std::string ip = "10.244.1." + std::to_string(10 + i);
      auto s = feed_.admit_local_pod(fresh_pod("p" + std::to_string(i)), {ip}, 10s);
      if (!s) return;
      ++ok;
      // Returned: the write that holds this pod's address must already be in the kernel.
      if (!kernel_.wrote(ip)) ++early;
    });
  for (auto& t : pods) t.join();
  EXPECT_EQ(ok, kPods);
  EXPECT_EQ(early, 0) << "pods admitted before a write holding them";
  int writes = kernel_.count() - writes_before;
  // Without batching each pod takes a sync of its own (40 writes, 40 x 20 ms for the last one).
  EXPECT_LE(writes, kPods / 8) << writes << " writes for " << kPods << " pods";
  AdmitMetrics m = feed_.admit_metrics();
  EXPECT_EQ(m.admits, uint64_t(kPods));
  EXPECT_EQ(m.timeouts, 0u);
  EXPECT_LE(m.syncs, uint64_t(writes));
  EXPECT_GE(m.syncs, 1u);
  // The histogram is cumulative and ends at the count.
  for (size_t i = 1; i < std::size(AdmitMetrics::kBuckets); ++i) EXPECT_LE(m.buckets[i - 1], m.buckets[i]);
  EXPECT_EQ(m.buckets[std::size(AdmitMetrics::kBuckets) - 1], uint64_t(kPods));  // all under 10 s
  std::string text = prometheus_text(feed_.metrics(), {}, m);
  EXPECT_NE(text.find("podnet_network_policy_pod_admission_duration_seconds_bucket{le=\"+Inf\"} 40\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("podnet_network_policy_pod_admission_syncs_total " + std::to_string(m.syncs) + "\n"),
            std::string::npos);
  std::printf("%d pods admitted in %d writes (%llu admission syncs), mean wait %.1f ms, max %.1f ms\n", kPods,
              writes, static_cast<unsigned long long>(m.syncs), 1000 * m.seconds_sum / m.admits,
              1000 * m.max_seconds);

  // A pod the table already holds (the runner asks again) returns without a write.
  int before = kernel_.count();
  ASSERT_TRUE(feed_.admit_local_pod(fresh_pod("p0"), {"10.244.1.10"}, 10s));
  EXPECT_EQ(kernel_.count(), before);
}

TEST_F(PolicyFeedAdmit, RefusedWritesFailClosedWithinTheCapAndCountATimeout) {
  {
    std::lock_guard l(kernel_.mu);
    kernel_.refuse = true;
  }
  auto t0 = std::chrono::steady_clock::now();
  auto s = feed_.admit_local_pod(fresh_pod("late"), {"10.244.1.77"}, 300ms);
  auto waited = std::chrono::steady_clock::now() - t0;
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message().find("not in the kernel after 300 ms"), std::string::npos)
      << s.error().message();
  EXPECT_GE(waited, 300ms);
  EXPECT_LT(waited, 3s);
  EXPECT_FALSE(kernel_.wrote("10.244.1.77"));
  AdmitMetrics m = feed_.admit_metrics();
  EXPECT_EQ(m.timeouts, 1u);
  EXPECT_EQ(m.admits, 1u);
  EXPECT_EQ(m.buckets[std::size(AdmitMetrics::kBuckets) - 1], 1u);
  EXPECT_EQ(m.buckets[0], 0u);  // 300 ms is not under 5 ms
  // The kernel takes writes again: the held pod is written by the retry, and a pod waiting then
  // is admitted by it.
  {
    std::lock_guard l(kernel_.mu);
    kernel_.refuse = false;
  }
  ASSERT_TRUE(feed_.admit_local_pod(fresh_pod("next"), {"10.244.1.78"}, 5s));
  EXPECT_TRUE(kernel_.wrote("10.244.1.77"));
  EXPECT_TRUE(kernel_.wrote("10.244.1.78"));
  EXPECT_EQ(feed_.admit_metrics().timeouts, 1u);
}

TEST_F(PolicyFeedAdmit, BadPodOrAddressIsAnErrorAtOnce) {
  auto t0 = std::chrono::steady_clock::now();
  auto s = feed_.admit_local_pod(json::value("not a pod"), {"10.244.1.5"}, 10s);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message().find("cannot be decoded"), std::string::npos) << s.error().message();
  auto b = feed_.admit_local_pod(fresh_pod("x"), {"10.244.1.300"}, 10s);
  ASSERT_FALSE(b);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  EXPECT_EQ(feed_.admit_metrics().timeouts, 0u);
}

TEST_F(PolicyFeedAdmit, StopReleasesWaitersWithAnError) {
  {
    std::lock_guard l(kernel_.mu);
    kernel_.refuse = true;
  }
  std::thread stopper([this] {
    std::this_thread::sleep_for(100ms);
    feed_.stop();
  });
  auto t0 = std::chrono::steady_clock::now();
  auto s = feed_.admit_local_pod(fresh_pod("s"), {"10.244.1.90"}, 10s);
  stopper.join();
  EXPECT_FALSE(s);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
}

}  // namespace
}  // namespace podnet::policy
