// The one place the agent changes the kernel's network state: it owns the VXLAN device, the routes
// and neighbour/FDB entries to other nodes, the VTEP address, the announced LoadBalancer addresses
// and the masquerade table. Each reconcile() computes the desired NetState from the cluster as the
// informers see it, reads what the kernel has, and applies only the difference: no flush, so a
// restarted agent converges without disturbing traffic.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "agent/kernel.h"
#include "agent/network.h"

namespace podnet::agent {

struct ReconcilerConfig {
  IpAddress node_ip;
  Overlay overlay = Overlay::kVxlan;
  std::vector<IpPrefix> cluster_cidrs;
};

struct ClusterView {
  std::vector<IpPrefix> own_cidrs;
  std::vector<Peer> peers;
  std::vector<IpAddress> lb_addresses;  // this node's to announce
};

class Reconciler {
 public:
  Reconciler(NetKernel& kernel, ReconcilerConfig config) : kernel_(kernel), cfg_(std::move(config)) {}

  // Finds the underlay (the link holding node_ip) and, for vxlan, makes sure pnvx0 exists: an
  // existing device is kept with its MAC (restart); a new one gets `preferred_mac` (the MAC the
  // Node annotation remembers) or a random one. host-gw removes a pnvx0 left from vxlan mode.
  // Returns the VTEP MAC (vxlan) for the Node annotation.
  Result<std::optional<netlink::Mac>> prepare(std::optional<netlink::Mac> preferred_mac);

  // Converges the kernel on the view. Returns the changes made (empty when already converged).
  Result<NetDiff> reconcile(const ClusterView& view);

  const Links& links() const { return links_; }
  unsigned underlay_mtu() const { return underlay_mtu_; }
  std::string underlay_name() const { return underlay_name_; }
  netlink::Mac underlay_mac() const { return underlay_mac_; }

 private:
  Status apply(const NetDiff& d);

  NetKernel& kernel_;
  ReconcilerConfig cfg_;
  Links links_;
  unsigned underlay_mtu_ = 1500;
  std::string underlay_name_;
  netlink::Mac underlay_mac_{};
  std::optional<std::vector<IpPrefix>> masquerade_for_;  // what the table was last set for
};

}  // namespace podnet::agent
