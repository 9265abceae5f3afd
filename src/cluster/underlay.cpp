#include "cluster/underlay.h"

#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>

#include "netlink/link.h"
#include "netlink/netns.h"

namespace podnet::cluster {
namespace {

Status ok_if_absent(Status s, int absent_code) {
  if (!s && s.error().code != absent_code) return s;
  return {};
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
  PODNET_TRY(bridge, nl.find_link("pnu" + cid));
  if (bridge) return false;
  PODNET_TRY(veth, nl.find_link("pn" + cid + "n1"));
  if (veth) return false;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/run/netns", ec))
    if (e.path().filename().string().starts_with("pn-" + cid + "-")) return false;
  return true;
}

Status create_bridge(const Layout& layout) {
  const std::string what = "underlay bridge " + layout.bridge();
  PODNET_TRY(nl, netlink::Netlink::open());
  auto bridge = nl.ensure_bridge(netlink::BridgeSpec{.name = layout.bridge()});
  if (!bridge) return std::unexpected(wrap(bridge.error(), what));
  if (auto s = nl.add_address(bridge->index, layout.gateway()); !s)
    return std::unexpected(wrap(s.error(), what));
  return {};
}

Status create_node(const Layout& layout, int i) {
  const std::string what = layout.node_name(i);
  auto ns = netlink::create_named_netns(layout.node_netns(i));
  if (!ns) return std::unexpected(wrap(ns.error(), what));
  PODNET_TRY(root, netlink::Netlink::open());
  PODNET_TRY(bridge, root.get_link(layout.bridge()));
  netlink::VethSpec veth{.name = layout.node_veth(i),
                         .peer_name = "eth0",
                         .peer_netns_fd = ns->fd(),
                         .master = bridge.index,
                         .up = true};
  if (auto s = root.create_veth(veth); !s) return std::unexpected(wrap(s.error(), what));
  return ns->run([&]() -> Status {
    PODNET_TRY(nl, netlink::Netlink::open());
    PODNET_TRY(lo, nl.get_link("lo"));
    PODNET_TRY(eth0, nl.get_link("eth0"));
    if (auto s = nl.set_up(lo.index); !s) return s;
    if (auto s = nl.add_address(eth0.index, layout.node_ip(i)); !s) return s;
    if (auto s = nl.set_up(eth0.index); !s) return s;
    netlink::RouteSpec def{.dst = IpPrefix{parse_ip("0.0.0.0").value(), 0}, .gateway = layout.gateway().addr};
    def.oif = eth0.index;
    if (auto s = nl.add_route(def); !s) return std::unexpected(wrap(s.error(), what + ": default route"));
    return netlink::set_sysctl("net.ipv4.ip_forward", "1");
  });
}

Status delete_netns_if_present(const std::string& name) {
  return netlink::delete_named_netns(name);
}

Status delete_root_links(const Layout& layout) {
  PODNET_TRY(nl, netlink::Netlink::open());
  for (int i = 1; i <= layout.spec().nodes; ++i)
    if (auto s = ok_if_absent(nl.delete_link(layout.node_veth(i)), ENODEV); !s) return s;
  return ok_if_absent(nl.delete_link(layout.bridge()), ENODEV);
}

}  // namespace podnet::cluster
