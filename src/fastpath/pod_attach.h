// What podnet-cni does for the fast path per pod: attach the agent's pinned pn_from_pod program to
// the pod's host-side veth and record the pod's IPv4 addresses in pn_pods. Loading the program and
// pinning it is the agent's job; without pins, pods use the normal path and nothing here runs.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/fd.h"
#include "common/ip.h"
#include "netlink/link.h"

namespace podnet::fastpath {

// Pin file names in the agent's bpffs directory.
inline constexpr const char* kFromPodPin = "pn_from_pod";
inline constexpr const char* kPodsPin = "pn_pods";

struct PodPins {
  UniqueFd from_pod;  // the pn_from_pod program
  UniqueFd pods;      // the pn_pods map
};

// Opens <bpf_dir>/pn_from_pod and <bpf_dir>/pn_pods. nullopt when either is not pinned (the agent
// has not loaded the fast path); any other failure is an error.
Result<std::optional<PodPins>> open_pod_pins(const std::string& bpf_dir);

// Attaches pn_from_pod at tcx ingress of host_ifindex (in the calling thread's namespace; already
// attached is fine) and maps each IPv4 address to {host_ifindex, pod_mac}. IPv6 addresses are
// skipped: the program carries IPv4 only.
Status add_pod(const PodPins& pins, int host_ifindex, const netlink::Mac& pod_mac,
               const std::vector<IpAddress>& ips);

// Deletes the addresses from pn_pods. Nothing pinned, or addresses not in the map: nothing to do.
// The program's attachment goes with the veth.
Status remove_pod(const std::string& bpf_dir, const std::vector<IpAddress>& ips);

}  // namespace podnet::fastpath
