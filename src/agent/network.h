// The agent's kernel network state as one value (routes to other nodes' pod ranges, VXLAN
// neighbour and FDB entries, the VTEP address, announced LoadBalancer addresses), the plan that
// derives it from the cluster, and the diff against what the kernel has. Pure; no I/O.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "agent/node.h"
#include "common/ip.h"
#include "netlink/link.h"

namespace podnet::agent {

// Route protocol of every route the agent owns (`ip route show proto 112`): how a restarted agent
// tells its routes from anyone else's without a state file.
inline constexpr int kRouteProtocol = 112;
// The address protocol (IFA_PROTO) of the IPv6 LoadBalancer addresses the agent announces (IPv6
// addresses have no labels); the same number as its routes'.
inline constexpr uint8_t kAddressProtocol = kRouteProtocol;
inline constexpr const char* kVxlanDevice = "pnvx0";
inline constexpr const char* kPodBridge = "pnbr0";  // podnet-cni's bridge, named in the conflist
inline constexpr uint32_t kVxlanVni = 1;
inline constexpr uint16_t kVxlanPort = 4789;
inline constexpr unsigned kVxlanOverhead = 50;
// IPv4 address label suffix of announced LoadBalancer addresses (on the underlay link).
inline constexpr const char* kLbLabelSuffix = ":pnlb";
std::string lb_label(const std::string& underlay_name);

// Another node, as far as routing to it goes.
struct Peer {
  std::string name;
  IpAddress ip;
  std::vector<IpPrefix> pod_cidrs;
  std::optional<netlink::Mac> vtep_mac;
};

// Link indexes the plan refers to (0: absent).
struct Links {
  int underlay = 0;
  int vxlan = 0;
};

struct NetState {
  std::vector<netlink::RouteSpec> routes;      // protocol kRouteProtocol, any device
  std::vector<netlink::NeighSpec> neighbours;  // permanent entries on the VXLAN device
  std::vector<netlink::NeighSpec> fdb;         // unicast entries on the VXLAN device
  std::vector<IpPrefix> vtep_addresses;        // on the VXLAN device
  std::vector<IpPrefix> lb_addresses;  // on the underlay: IPv4 /32 labelled, IPv6 /128 with kAddressProtocol
};

struct PlanInput {
  Overlay overlay = Overlay::kVxlan;
  std::vector<IpPrefix> own_cidrs;
  std::vector<Peer> peers;              // every other node (those without address/CIDR are skipped)
  std::vector<IpAddress> lb_addresses;  // LoadBalancer IPs this node announces
};

// vxlan (flannel's scheme): the VXLAN device holds the first address of the node's pod range as
// /32; a remote range is routed via the remote's first address, onlink, on the device; a permanent
// neighbour maps that address to the remote VTEP MAC and an FDB entry sends the MAC to the remote
// node's IP. host-gw: a remote range is routed via the remote node's IP on the underlay link.
// IPv4 pod ranges only over VXLAN (the VTEP addresses are IPv4); host-gw routes both families.
NetState plan(const PlanInput& in, const Links& links);

struct NetDiff {
  NetState add;     // routes here are replaced (create or overwrite), neighbours and FDB replaced
  NetState remove;  // routes here have no replacement in `add`
  bool empty() const;
  std::string describe() const;  // one line per change, for logs and tests
};
NetDiff diff(const NetState& desired, const NetState& actual);

}  // namespace podnet::agent
