// Order of changes: what others depend on first (VTEP address, FDB, neighbours, then routes);
// removals in reverse. A failure stops the pass; the next reconcile() starts from the kernel again.
#include "agent/reconciler.h"

#include <spdlog/spdlog.h>

namespace podnet::agent {

Result<std::optional<netlink::Mac>> Reconciler::prepare(std::optional<netlink::Mac> preferred_mac) {
  PODNET_TRY(underlay, kernel_.link_with_address(cfg_.node_ip));
  links_.underlay = underlay.index;
  underlay_mtu_ = underlay.mtu ? underlay.mtu : 1500;
  underlay_name_ = underlay.name;
  underlay_mac_ = underlay.mac;
  PODNET_TRY(existing, kernel_.find_link(kVxlanDevice));
  if (cfg_.overlay == Overlay::kHostGw) {
    links_.vxlan = 0;
    if (existing) {
      if (auto s = kernel_.delete_link(kVxlanDevice); !s) return std::unexpected(s.error());
    }
    return std::optional<netlink::Mac>();
  }
  if (existing && existing->kind != "vxlan")
    return fail(std::string(kVxlanDevice) + " exists and is a " + existing->kind + ", not a vxlan device",
                EEXIST);
  if (!existing) {
    netlink::VxlanSpec spec{.name = kVxlanDevice,
                            .vni = kVxlanVni,
                            .local = cfg_.node_ip,
                            .underlay_ifindex = links_.underlay,
                            .dst_port = kVxlanPort,
                            .mtu = underlay_mtu_ - kVxlanOverhead,
                            .learning = false,
                            .mac = preferred_mac ? preferred_mac : netlink::random_mac()};
    if (auto s = kernel_.create_vxlan(spec); !s) return std::unexpected(s.error());
    PODNET_TRY(made, kernel_.find_link(kVxlanDevice));
    if (!made) return fail(std::string(kVxlanDevice) + " vanished after creation", ENODEV);
    existing = made;
  } else if (existing->mtu != underlay_mtu_ - kVxlanOverhead) {
    if (auto s = kernel_.set_mtu(existing->index, underlay_mtu_ - kVxlanOverhead); !s)
      return std::unexpected(s.error());
  }
  if (!existing->up) {
    if (auto s = kernel_.set_up(existing->index); !s) return std::unexpected(s.error());
  }
  links_.vxlan = existing->index;
  return std::optional<netlink::Mac>(existing->mac);
}

Result<NetDiff> Reconciler::reconcile(const ClusterView& view) {
  if (!masquerade_for_ || *masquerade_for_ != view.own_cidrs) {
    if (auto s = kernel_.set_masquerade(view.own_cidrs, cfg_.cluster_cidrs); !s)
      return std::unexpected(wrap(s.error(), "masquerade"));
    masquerade_for_ = view.own_cidrs;
  }
  NetState desired = plan({.overlay = cfg_.overlay,
                           .own_cidrs = view.own_cidrs,
                           .peers = view.peers,
                           .lb_addresses = view.lb_addresses},
                          links_);
  PODNET_TRY(actual, kernel_.observe(links_, lb_label(underlay_name_)));
  NetDiff d = diff(desired, actual);
  if (d.empty()) return d;
  if (auto s = apply(d); !s) return std::unexpected(s.error());
  return d;
}

Status Reconciler::apply(const NetDiff& d) {
  const std::string label = lb_label(underlay_name_);
  // A vanished entry (someone else removed it) is already what we want.
  auto gone_ok = [](Status s) -> Status {
    if (!s && (s.error().code == ESRCH || s.error().code == ENOENT || s.error().code == EADDRNOTAVAIL))
      return {};
    return s;
  };
  for (const auto& a : d.add.vtep_addresses)
    if (auto s = kernel_.add_address(links_.vxlan, a, ""); !s && s.error().code != EEXIST) return s;
  for (const auto& n : d.add.fdb)
    if (auto s = kernel_.replace_fdb(n); !s) return s;
  for (const auto& n : d.add.neighbours)
    if (auto s = kernel_.replace_neighbour(n); !s) return s;
  for (const auto& r : d.add.routes)
    if (auto s = kernel_.replace_route(r); !s) return s;
  for (const auto& a : d.add.lb_addresses) {
    if (auto s = kernel_.add_address(links_.underlay, a, label); !s && s.error().code != EEXIST) return s;
    if (auto s = kernel_.announce(links_.underlay, underlay_mac_, a.addr); !s)
      spdlog::warn("announce {}: {}", a.addr.to_string(), s.error().message());
  }

  for (const auto& a : d.remove.lb_addresses)
    if (auto s = gone_ok(kernel_.delete_address(links_.underlay, a)); !s) return s;
  for (const auto& r : d.remove.routes)
    if (auto s = gone_ok(kernel_.delete_route(r)); !s) return s;
  for (const auto& n : d.remove.neighbours)
    if (auto s = gone_ok(kernel_.delete_neighbour(n)); !s) return s;
  for (const auto& n : d.remove.fdb)
    if (auto s = gone_ok(kernel_.delete_fdb(n)); !s) return s;
  for (const auto& a : d.remove.vtep_addresses)
    if (auto s = gone_ok(kernel_.delete_address(links_.vxlan, a)); !s) return s;
  return {};
}

}  // namespace podnet::agent
