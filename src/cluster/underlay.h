// The network of a `podnet up` cluster outside its agents' reach: the underlay bridge in the root
// namespace and each node's namespace with its eth0 on that bridge. Everything through rtnetlink;
// the root namespace gets nothing but the bridge, its address and the root-side veths.
#pragma once

#include <string>
#include <vector>

#include "cluster/layout.h"
#include "common/error.h"
#include "common/ip.h"

namespace podnet::cluster {

// What the underlay must not collide with: every IPv4 address and main-table route of the calling
// thread's namespace, except the default route.
Result<std::vector<IpPrefix>> used_prefixes();
// EADDRINUSE naming the collision when `underlay` overlaps one of `used`.
Status check_underlay_free(const IpPrefix& underlay, const std::vector<IpPrefix>& used);

// True when the names the cluster id `cid` would use are all free (no bridge, no netns).
Result<bool> cid_free(const std::string& cid);

// The bridge pnu<cid>, up, with the gateway address.
Status create_bridge(const Layout& layout);
// Node i: netns pn-<cid>-node<i>, lo up, eth0 (peer of pn<cid>n<i> on the bridge) with the node's
// address, default route via the gateway, ip_forward=1.
Status create_node(const Layout& layout, int i);

// Deletes a named netns, the node veths and the bridge; absent objects are fine.
Status delete_netns_if_present(const std::string& name);
Status delete_root_links(const Layout& layout);

}  // namespace podnet::cluster
