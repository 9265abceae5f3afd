// What the reconciler needs from the node's kernel, as an interface so the reconciler is tested
// without root; NetlinkKernel (netlink + nftables + AF_PACKET) is the real one, working on the
// network namespace it was opened in.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent/network.h"
#include "common/error.h"
#include "netlink/link.h"

namespace podnet::agent {

class NetKernel {
 public:
  virtual ~NetKernel() = default;

  // The link holding `ip` (the underlay), ENODEV-style error when none does.
  virtual Result<netlink::LinkInfo> link_with_address(const IpAddress& ip) = 0;
  virtual Result<std::optional<netlink::LinkInfo>> find_link(const std::string& name) = 0;
  virtual Status create_vxlan(const netlink::VxlanSpec& spec) = 0;
  virtual Status delete_link(const std::string& name) = 0;
  virtual Status set_up(int ifindex) = 0;
  virtual Status set_mtu(int ifindex, unsigned mtu) = 0;

  // What the kernel has of NetState (see network.h for which entries count).
  virtual Result<NetState> observe(const Links& links, const std::string& lb_label) = 0;
  virtual Status replace_route(const netlink::RouteSpec& r) = 0;
  virtual Status delete_route(const netlink::RouteSpec& r) = 0;
  virtual Status replace_neighbour(const netlink::NeighSpec& n) = 0;
  virtual Status delete_neighbour(const netlink::NeighSpec& n) = 0;
  virtual Status replace_fdb(const netlink::NeighSpec& n) = 0;
  virtual Status delete_fdb(const netlink::NeighSpec& n) = 0;
  // IPv4: labelled `label`; IPv6 (no labels): no DAD, address protocol kAddressProtocol.
  virtual Status add_address(int ifindex, const IpPrefix& a, const std::string& label) = 0;
  virtual Status delete_address(int ifindex, const IpPrefix& a) = 0;
  // Gratuitous ARP (IPv4) or unsolicited neighbour advertisement (IPv6) for `ip` from `mac` out of
  // the link, so neighbours update their caches.
  virtual Status announce(int ifindex, const netlink::Mac& mac, const IpAddress& ip) = 0;

  // Replaces the agent's masquerade tables (one transaction): traffic from `pod_cidrs` to outside
  // `cluster_cidrs` is masqueraded. Empty pod_cidrs: the tables exist without rules.
  virtual Status set_masquerade(const std::vector<IpPrefix>& pod_cidrs,
                                const std::vector<IpPrefix>& cluster_cidrs) = 0;
};

inline constexpr const char* kAgentTable = "podnet-agent";
// Label of the cluster DNS addresses on lo (IPv4; --cleanup finds them by it).
inline constexpr const char* kDnsAddressLabel = "lo:pndns";

// The nft text of set_masquerade (exposed for tests).
std::string masquerade_ruleset(const std::vector<IpPrefix>& pod_cidrs,
                               const std::vector<IpPrefix>& cluster_cidrs);

// The real kernel, in the calling thread's current namespace at open().
Result<std::unique_ptr<NetKernel>> open_netlink_kernel();

// `podnet agent --cleanup`: the agent's nftables tables, VXLAN device, routes (by protocol) and
// announced addresses (by label) in the current namespace. Absent pieces are not errors.
Status cleanup_agent_network();

}  // namespace podnet::agent
