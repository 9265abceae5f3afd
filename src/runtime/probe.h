// One run of a container probe, as kubelet's prober does it: tcpSocket and httpGet connect from
// the node's network namespace to the pod's IP (or probe.host), exec runs the command inside the
// pod's namespace. Each run is bounded by timeoutSeconds.
#pragma once

#include <string>

#include "netlink/netns.h"
#include "runtime/pod_spec.h"

namespace podnet::runtime {

struct ProbeTarget {
  const netlink::NetNs* node_ns = nullptr;  // where tcp/http probes connect from; null: the caller's
  const netlink::NetNs* pod_ns = nullptr;   // where exec probes run; null: the caller's
  int pod_mnt_fd = -1;                      // the pod's mount namespace for exec probes; -1: the caller's
  std::string pod_ip;
  std::vector<std::string> env;  // the container's environment, for exec probes
};

struct ProbeOutcome {
  bool success = false;
  std::string message;  // why it failed, for events/logs
};

ProbeOutcome run_probe(const Probe& probe, const ContainerSpec& container, const ProbeTarget& target);

}  // namespace podnet::runtime
