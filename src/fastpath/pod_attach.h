// What podnet-cni does for the fast path per pod: record the pod's IPv4 addresses and host-side veth
// in the agent's pinned pn_pods map. The agent attaches pn_from_pod to the veths it finds there
// (FastPath::attach_pods): that takes netlink round trips and a qdisc, more than ADD should pay.
// Without pins, pods use the normal path and nothing here runs.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/fd.h"
#include "common/ip.h"
#include "fastpath/pins.h"
#include "netlink/link.h"

namespace podnet::fastpath {

// An IPv4 address as the maps and the packet hold it: network byte order in a __u32.
uint32_t ipv4_be32(const IpAddress& a);

struct PodPins {
  UniqueFd pods;  // the pn_pods map
};

// Opens <bpf_dir>/pn_pods. nullopt when it is not pinned (the agent has not loaded the fast path);
// any other failure is an error.
Result<std::optional<PodPins>> open_pod_pins(const std::string& bpf_dir);

// Maps each IPv4 address to {host_ifindex, pod_mac}. IPv6 addresses are skipped: the program
// carries IPv4 only.
// `flags`: PN_POD_PENDING when NetworkPolicy is enforced (the agent clears it once it programmed
// the pod), else 0.
Status add_pod(const PodPins& pins, int host_ifindex, const netlink::Mac& pod_mac,
               const std::vector<IpAddress>& ips, uint16_t flags = 0);

// Deletes the addresses from pn_pods. Nothing pinned, or addresses not in the map: nothing to do.
// The program's attachment goes with the veth.
Status remove_pod(const std::string& bpf_dir, const std::vector<IpAddress>& ips);

}  // namespace podnet::fastpath
