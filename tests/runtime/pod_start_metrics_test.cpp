// kubelet_pod_start_sli_duration_seconds: kubelet's buckets, one observation per pod start this
// node made (at the first status with every container running), none for a pod re-adopted after
// a restart. Needs root (PodTest).
#include "runtime/pod_start_metrics.h"

#include <gtest/gtest.h>

#include "pod_fixture.h"

namespace podnet::runtime::testing {
namespace {

// The sample's value in Prometheus text, -1 if absent.
double sample(const std::string& text, const std::string& name) {
  size_t i = text.find("\n" + name + " ");
  return i == std::string::npos ? -1.0 : std::stod(text.substr(i + name.size() + 2));
}

const std::string kName = "kubelet_pod_start_sli_duration_seconds";

TEST(PodStartMetricsTest, KubeletsBucketsCumulative) {
  PodStartMetrics m;
  m.observe(0.7);
  m.observe(0.5);  // le is inclusive
  m.observe(5000);
  std::string t = m.prometheus_text();
  EXPECT_NE(t.find("# TYPE " + kName + " histogram\n"), std::string::npos) << t;
  EXPECT_EQ(sample(t, kName + "_bucket{le=\"0.5\"}"), 1) << t;
  EXPECT_EQ(sample(t, kName + "_bucket{le=\"1\"}"), 2) << t;
  EXPECT_EQ(sample(t, kName + "_bucket{le=\"3600\"}"), 2) << t;
  EXPECT_EQ(sample(t, kName + "_bucket{le=\"+Inf\"}"), 3) << t;
  EXPECT_EQ(sample(t, kName + "_count"), 3) << t;
  EXPECT_DOUBLE_EQ(sample(t, kName + "_sum"), 5001.2) << t;
  size_t buckets = 0;
  for (size_t at = 0; (at = t.find(kName + "_bucket{", at)) != std::string::npos; ++at) ++buckets;
  EXPECT_EQ(buckets, 26u);  // kubelet's 25 bounds and +Inf
}

TEST_F(PodTest, PodStartSliObservedOncePerStartNotOnReadoption) {
  PodStartMetrics m;
  start_manager([&](PodManagerOptions& o) { o.start_metrics = &m; });
  auto t0 = std::chrono::steady_clock::now();
  json::object c{
      {"name", "app"}, {"image", "none"}, {"command", json::array{"/bin/sh", "-c", "exec sleep 1000"}}};
  make_pod("sli", {c});
  json::value pod;
  ASSERT_TRUE(eventually([&] { return condition(pod = get_pod("sli"), "Ready") == "True"; }))
      << json::serialize(pod);
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::string t = m.prometheus_text();
  EXPECT_EQ(sample(t, kName + "_count"), 1) << t;
  EXPECT_GT(sample(t, kName + "_sum"), 0) << t;
  EXPECT_LE(sample(t, kName + "_sum"), elapsed) << t;  // from the agent seeing the pod, after the create
  std::printf("pod start SLI: %.3f s (create to Ready seen: %.3f s)\n", sample(t, kName + "_sum"), elapsed);

  // A restarted node re-adopts the running pod: that is no start.
  manager_.reset();
  PodStartMetrics again;
  start_manager([&](PodManagerOptions& o) { o.start_metrics = &again; });
  std::this_thread::sleep_for(1s);  // the re-adopted pod's status is posted again meanwhile
  EXPECT_EQ(condition(get_pod("sli"), "Ready"), "True");
  EXPECT_EQ(sample(again.prometheus_text(), kName + "_count"), 0);
  EXPECT_EQ(sample(m.prometheus_text(), kName + "_count"), 1);
}

}  // namespace
}  // namespace podnet::runtime::testing
