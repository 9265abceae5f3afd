// Pod start duration as kubelet's SLI histogram, kubelet_pod_start_sli_duration_seconds (same name,
// same buckets, no labels), on the agent's /metrics. podnet pulls no images, so the SLI's "excluding
// image pulls" holds for every pod. Measured from the agent first seeing the pod to the first
// status it posts with every app container started (kubelet: from the pod's creationTimestamp, at
// second granularity, to all containers started as seen by its watch); only starts this agent made
// (a pod re-adopted after an agent restart is not counted). Thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <string>

namespace podnet::runtime {

class PodStartMetrics {
 public:
  // kubelet's podStartupDurationBuckets (pkg/kubelet/metrics), seconds.
  static constexpr std::array<double, 25> kBuckets{0.5, 1,   2,   3,    4,    5,    6,   8,   10,
                                                   20,  30,  45,  60,   120,  180,  240, 300, 360,
                                                   480, 600, 900, 1200, 1800, 2700, 3600};
  void observe(double seconds);
  // The Prometheus text exposition (HELP, TYPE, cumulative _bucket lines, _sum, _count).
  std::string prometheus_text() const;

 private:
  mutable std::mutex mu_;
  std::array<uint64_t, kBuckets.size() + 1> counts_{};  // per bucket, the last is +Inf; not cumulative
  uint64_t count_ = 0;
  double sum_ = 0;
};

// The process's instance: `podnet agent --run-pods` is one node's kubelet.
PodStartMetrics& node_pod_start_metrics();

}  // namespace podnet::runtime
