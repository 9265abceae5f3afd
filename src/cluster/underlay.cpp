#include "cluster/underlay.h"

#include <linux/magic.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <filesystem>

#include "cluster/teardown.h"
#include "netlink/link.h"
#include "netlink/netns.h"

namespace podnet::cluster {
namespace {

constexpr const char* kNetnsDir = "/run/netns";

// Tolerates one error code: ENODEV when deleting (absent), EEXIST when adding (present).
Status tolerating(Status s, int code) {
  if (!s && s.error().code != code) return s;
  return {};
}

// The named namespace, made when absent. A file left by a creation that died half-way (nothing
// mounted on it) is replaced.
Result<netlink::NetNs> open_or_create_netns(const std::string& name) {
  if (netns_present(name)) return netlink::NetNs::open(std::string(kNetnsDir) + "/" + name);
  if (auto s = netlink::delete_named_netns(name); !s) return std::unexpected(s.error());
  return netlink::create_named_netns(name);
}

}  // namespace

Result<std::vector<IpPrefix>> used_prefixes() {
  PODNET_TRY(nl, netlink::Netlink::open());
  std::vector<IpPrefix> used;
  PODNET_TRY(routes, nl.list_routes(AF_INET));
  for (const auto& r : routes)
    if (r.dst.len > 0) used.push_back(r.dst);
  PODNET_TRY(links, nl.list_links());
  for (const auto& l : links) {
    PODNET_TRY(addrs, nl.list_addresses(l.index, AF_INET));
    for (const auto& a : addrs) used.push_back(a);
  }
  return used;
}

Status check_underlay_free(const IpPrefix& underlay, const std::vector<IpPrefix>& used) {
  for (const auto& p : used)
    if (overlaps(underlay, p))
      return fail("underlay " + underlay.network().str() + " overlaps " + p.str() +
                      " in the root namespace (pick another with --underlay-cidr)",
                  EADDRINUSE);
  return {};
}

Result<bool> cid_free(const std::string& cid) {
  PODNET_TRY(nl, netlink::Netlink::open());
  PODNET_TRY(root_link, nl.find_link("pnu" + cid));
  if (root_link) return false;
  PODNET_TRY(veth, nl.find_link("pn" + cid + "n1"));
  if (veth) return false;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/run/netns", ec))
    if (e.path().filename().string().starts_with("pn-" + cid + "-")) return false;
  return true;
}

Status ensure_underlay(const Layout& layout) {
  const std::string what = "underlay " + layout.underlay_netns();
  PODNET_TRY(root_ns, netlink::NetNs::current());
  auto ns = open_or_create_netns(layout.underlay_netns());
  if (!ns) return std::unexpected(wrap(ns.error(), what));
  auto made = ns->run([&]() -> Status {
    PODNET_TRY(nl, netlink::Netlink::open());
    PODNET_TRY(lo, nl.get_link("lo"));
    if (auto s = nl.set_up(lo.index); !s) return s;
    // A bridge here is a plain switch: with br_netfilter loaded (a global module), frames crossing
    // it would go through this namespace's iptables unless told not to. The keys exist only while
    // the module is loaded.
    for (const char* key : {"net.bridge.bridge-nf-call-iptables", "net.bridge.bridge-nf-call-ip6tables",
                            "net.bridge.bridge-nf-call-arptables"})
      if (auto s = netlink::set_sysctl(key, "0"); !s && s.error().code != ENOENT) return s;
    PODNET_TRY(bridge, nl.ensure_bridge(netlink::BridgeSpec{.name = Layout::kUnderlayBridge}));
    if (auto s = nl.set_up(bridge.index); !s) return s;
    PODNET_TRY(port, nl.find_link(Layout::kUnderlayRootPort));
    if (port) return Status{};
    // A root link without its peer here is the rest of an underlay namespace being destroyed (the
    // kernel frees a deleted namespace's devices asynchronously): ours by name, so it goes.
    auto stale = root_ns.run([&]() -> Status {
      PODNET_TRY(root_nl, netlink::Netlink::open());
      return tolerating(root_nl.delete_link(layout.root_link()), ENODEV);
    });
    if (!stale) return stale;
    return nl.create_veth(netlink::VethSpec{.name = Layout::kUnderlayRootPort,
                                            .peer_name = layout.root_link(),
                                            .peer_netns_fd = root_ns.fd(),
                                            .master = bridge.index,
                                            .up = true});
  });
  if (!made) return std::unexpected(wrap(made.error(), what));
  PODNET_TRY(nl, netlink::Netlink::open());
  auto link = nl.get_link(layout.root_link());
  if (!link) return std::unexpected(wrap(link.error(), what));
  if (auto s = tolerating(nl.add_address(link->index, layout.gateway()), EEXIST); !s)
    return std::unexpected(wrap(s.error(), what));
  if (auto s = nl.set_up(link->index); !s) return std::unexpected(wrap(s.error(), what));
  return {};
}

Status ensure_node(const Layout& layout, int i) {
  const std::string what = layout.node_name(i);
  auto ns = open_or_create_netns(layout.node_netns(i));
  if (!ns) return std::unexpected(wrap(ns.error(), what));
  auto eth0 = ns->run([&]() -> Result<std::optional<netlink::LinkInfo>> {
    PODNET_TRY(nl, netlink::Netlink::open());
    return nl.find_link("eth0");
  });
  if (!eth0) return std::unexpected(wrap(eth0.error(), what));
  if (!*eth0) {
    PODNET_TRY(underlay, netlink::NetNs::open("/run/netns/" + layout.underlay_netns()));
    auto plugged = underlay.run([&]() -> Status {
      PODNET_TRY(nl, netlink::Netlink::open());
      PODNET_TRY(bridge, nl.get_link(Layout::kUnderlayBridge));
      // The port of a node namespace that is still being destroyed (see ensure_underlay).
      if (auto s = tolerating(nl.delete_link(layout.node_veth(i)), ENODEV); !s) return s;
      return nl.create_veth(netlink::VethSpec{.name = layout.node_veth(i),
                                              .peer_name = "eth0",
                                              .peer_netns_fd = ns->fd(),
                                              .master = bridge.index,
                                              .up = true});
    });
    if (!plugged) return std::unexpected(wrap(plugged.error(), what));
  }
  return ns->run([&]() -> Status {
    PODNET_TRY(nl, netlink::Netlink::open());
    PODNET_TRY(lo, nl.get_link("lo"));
    PODNET_TRY(eth0, nl.get_link("eth0"));
    if (auto s = nl.set_up(lo.index); !s) return s;
    if (auto s = tolerating(nl.add_address(eth0.index, layout.node_ip(i)), EEXIST); !s) return s;
    if (auto s = nl.set_up(eth0.index); !s) return s;
    netlink::RouteSpec def{.dst = IpPrefix{parse_ip("0.0.0.0").value(), 0}, .gateway = layout.gateway().addr};
    def.oif = eth0.index;
    if (auto s = tolerating(nl.add_route(def), EEXIST); !s)
      return std::unexpected(wrap(s.error(), what + ": default route"));
    return netlink::set_sysctl("net.ipv4.ip_forward", "1");
  });
}

bool netns_present(const std::string& name) {
  struct statfs fs {};
  return ::statfs((std::string(kNetnsDir) + "/" + name).c_str(), &fs) == 0 && fs.f_type == NSFS_MAGIC;
}

Result<int> remove_stale_netns_files(const Layout& layout) {
  std::vector<std::string> existing;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(kNetnsDir, ec))
    existing.push_back(e.path().filename());
  int removed = 0;
  for (const auto& name : cluster_netns(layout, existing, recorded_pods(layout))) {
    if (netns_present(name)) continue;
    if (auto s = netlink::delete_named_netns(name); !s) return std::unexpected(s.error());
    ++removed;
  }
  return removed;
}

Result<bool> root_link_present(const Layout& layout) {
  PODNET_TRY(nl, netlink::Netlink::open());
  PODNET_TRY(link, nl.find_link(layout.root_link()));
  return link.has_value();
}

Status delete_netns_if_present(const std::string& name) {
  return netlink::delete_named_netns(name);
}

Status delete_root_links(const Layout& layout) {
  PODNET_TRY(nl, netlink::Netlink::open());
  // Clusters made before the underlay had its own namespace kept the node ports in the root one.
  for (int i = 1; i <= layout.spec().nodes; ++i)
    if (auto s = tolerating(nl.delete_link(layout.node_veth(i)), ENODEV); !s) return s;
  return tolerating(nl.delete_link(layout.root_link()), ENODEV);
}

}  // namespace podnet::cluster
