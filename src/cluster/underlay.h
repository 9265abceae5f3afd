// The network of a `podnet up` cluster outside its agents' reach: the underlay, a bridge in a
// namespace of its own, and each node's namespace with its eth0 on that bridge. Everything through
// rtnetlink; the root namespace gets nothing but one veth into the underlay and its address.
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

// True when the names the cluster id `cid` would use are all free (no root link, no netns).
Result<bool> cid_free(const std::string& cid);

// Netns pn-<cid>-underlay with the bridge pnbr0 (br_netfilter off there), and the root namespace's
// veth pnu<cid> into it (peer pnroot on the bridge), up, with the gateway address. What exists is
// kept and the rest made, so it also restores the underlay of a stopped cluster (after a reboot).
Status ensure_underlay(const Layout& layout);
// Node i: netns pn-<cid>-node<i>, lo up, eth0 (peer of pn<cid>n<i> on the underlay bridge) with
// the node's address, default route via the gateway, ip_forward=1. Like ensure_underlay, keeps
// what exists (the agent's own objects in the namespace included).
Status ensure_node(const Layout& layout, int i);
// True when /run/netns/NAME is a mounted network namespace.
bool netns_present(const std::string& name);
// Removes the cluster's files under /run/netns (its own and its recorded pods') that no longer
// hold a namespace: a reboot leaves them where /run is not a tmpfs, and an agent would take such a
// file for its pod's namespace. Returns how many went.
Result<int> remove_stale_netns_files(const Layout& layout);
// True when the root namespace has a link of that name.
Result<bool> root_link_present(const Layout& layout);

// Deletes a named netns; the root link pnu<cid> (and the root-side node veths and bridge of
// clusters made before the underlay namespace); absent objects are fine.
Status delete_netns_if_present(const std::string& name);
Status delete_root_links(const Layout& layout);

}  // namespace podnet::cluster
