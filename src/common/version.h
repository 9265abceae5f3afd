// podnet's release and the Kubernetes version whose API it implements, for `--version` and for
// what a node reports as its kubelet and container runtime (status.nodeInfo).
#pragma once

#include <string_view>

namespace podnet {

inline constexpr std::string_view kPodnetVersion = "0.1.0";
// The kubelet version a podnet node reports: the Kubernetes release it follows, with podnet's own
// release as semver build metadata (as k3s reports "v1.32.4+k3s1").
inline constexpr std::string_view kNodeAgentVersion = "v1.32.0+podnet-0.1.0";

}  // namespace podnet
