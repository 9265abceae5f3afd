#include "runtime/pod_start_metrics.h"

#include <fmt/format.h>

#include <algorithm>

namespace podnet::runtime {

void PodStartMetrics::observe(double seconds) {
  if (!(seconds >= 0)) seconds = 0;  // NaN or a clock step: counted, as 0
  auto at = std::ranges::lower_bound(kBuckets, seconds) - kBuckets.begin();  // le: bound >= value
  std::lock_guard lock(mu_);
  ++counts_[static_cast<size_t>(at)];
  ++count_;
  sum_ += seconds;
}

std::string PodStartMetrics::prometheus_text() const {
  constexpr const char* kName = "kubelet_pod_start_sli_duration_seconds";
  std::lock_guard lock(mu_);
  std::string out = fmt::format(
      "# HELP {0} Duration in seconds to start a pod, excluding time to pull images (podnet pulls none), "
      "from the agent first seeing the pod to its status posted with all containers started\n"
      "# TYPE {0} histogram\n",
      kName);
  uint64_t cumulative = 0;
  for (size_t i = 0; i < kBuckets.size(); ++i) {
    cumulative += counts_[i];
    out += fmt::format("{}_bucket{{le=\"{}\"}} {}\n", kName, kBuckets[i], cumulative);
  }
  out += fmt::format("{}_bucket{{le=\"+Inf\"}} {}\n{}_sum {}\n{}_count {}\n", kName, count_, kName, sum_,
                     kName, count_);
  return out;
}

PodStartMetrics& node_pod_start_metrics() {
  static PodStartMetrics m;
  return m;
}

}  // namespace podnet::runtime
