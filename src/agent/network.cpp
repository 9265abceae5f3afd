// Plan and diff. Identity: a route by destination (and table), a neighbour by IP, an FDB entry by
// MAC, addresses by value; an entry with the same identity but other content is replaced.
#include "agent/network.h"

#include <algorithm>

namespace podnet::agent {

using netlink::NeighSpec;
using netlink::RouteSpec;

std::string lb_label(const std::string& underlay_name) {
  // IFNAMSIZ-1 is the limit; keep the suffix whole so the label stays recognisable.
  std::string base = underlay_name.substr(0, 15 - std::string(kLbLabelSuffix).size());
  return base + kLbLabelSuffix;
}

NetState plan(const PlanInput& in, const Links& links) {
  NetState s;
  if (in.overlay == Overlay::kVxlan && links.vxlan) {
    for (const auto& own : in.own_cidrs)
      if (own.is_v4()) s.vtep_addresses.push_back({own.network().addr, 32});
  }
  for (const auto& p : in.peers) {
    for (const auto& cidr : p.pod_cidrs) {
      if (in.overlay == Overlay::kHostGw) {
        if (cidr.is_v4() != p.ip.is_v4() || !links.underlay) continue;
        s.routes.push_back(
            {.dst = cidr.network(), .gateway = p.ip, .oif = links.underlay, .protocol = kRouteProtocol});
        continue;
      }
      if (!cidr.is_v4() || !p.ip.is_v4() || !p.vtep_mac || !links.vxlan) continue;
      IpAddress vtep = cidr.network().addr;
      s.routes.push_back({.dst = cidr.network(),
                          .gateway = vtep,
                          .oif = links.vxlan,
                          .onlink = true,
                          .protocol = kRouteProtocol});
      s.neighbours.push_back({.ifindex = links.vxlan, .ip = vtep, .mac = *p.vtep_mac});
      s.fdb.push_back({.ifindex = links.vxlan, .mac = *p.vtep_mac, .fdb_dst = p.ip});
    }
  }
  if (links.underlay)
    for (const auto& ip : in.lb_addresses) s.lb_addresses.push_back({ip, ip.is_v4() ? 32 : 128});
  return s;
}

namespace {

bool same_route_key(const RouteSpec& a, const RouteSpec& b) {
  return a.dst.network() == b.dst.network() && a.table == b.table;
}
bool same_route(const RouteSpec& a, const RouteSpec& b) {
  return same_route_key(a, b) && a.gateway == b.gateway && a.oif == b.oif && a.onlink == b.onlink;
}
bool same_neigh(const NeighSpec& a, const NeighSpec& b) {
  return a.ifindex == b.ifindex && a.ip == b.ip && a.mac == b.mac && a.permanent == b.permanent;
}
bool same_fdb_key(const NeighSpec& a, const NeighSpec& b) {
  return a.ifindex == b.ifindex && a.mac == b.mac;
}
bool same_fdb(const NeighSpec& a, const NeighSpec& b) {
  return same_fdb_key(a, b) && a.fdb_dst == b.fdb_dst;
}

// Elements of `from` with no element of `in` equal to them.
template <class T, class Eq>
std::vector<T> missing(const std::vector<T>& from, const std::vector<T>& in, Eq eq) {
  std::vector<T> out;
  for (const auto& x : from)
    if (std::none_of(in.begin(), in.end(), [&](const T& y) { return eq(x, y); })) out.push_back(x);
  return out;
}

}  // namespace

NetDiff diff(const NetState& desired, const NetState& actual) {
  NetDiff d;
  d.add.routes = missing(desired.routes, actual.routes, same_route);
  // A changed route is replaced, not removed: removing first would drop traffic in between.
  d.remove.routes = missing(actual.routes, desired.routes, same_route_key);
  d.add.neighbours = missing(desired.neighbours, actual.neighbours, same_neigh);
  d.remove.neighbours = missing(actual.neighbours, desired.neighbours,
                                [](const NeighSpec& a, const NeighSpec& b) { return a.ip == b.ip; });
  d.add.fdb = missing(desired.fdb, actual.fdb, same_fdb);
  // Several stale entries for one MAC cannot exist (an FDB entry per MAC), so key = MAC is enough.
  d.remove.fdb = missing(actual.fdb, desired.fdb, same_fdb_key);
  auto eq = [](const IpPrefix& a, const IpPrefix& b) { return a == b; };
  d.add.vtep_addresses = missing(desired.vtep_addresses, actual.vtep_addresses, eq);
  d.remove.vtep_addresses = missing(actual.vtep_addresses, desired.vtep_addresses, eq);
  d.add.lb_addresses = missing(desired.lb_addresses, actual.lb_addresses, eq);
  d.remove.lb_addresses = missing(actual.lb_addresses, desired.lb_addresses, eq);
  return d;
}

bool NetDiff::empty() const {
  for (const NetState* s : {&add, &remove})
    if (!s->routes.empty() || !s->neighbours.empty() || !s->fdb.empty() || !s->vtep_addresses.empty() ||
        !s->lb_addresses.empty())
      return false;
  return true;
}

std::string NetDiff::describe() const {
  std::string out;
  for (const auto& [sign, s] : {std::pair{"+", &add}, std::pair{"-", &remove}}) {
    for (const auto& r : s->routes) {
      out += std::string(sign) + " route " + r.dst.network().str();
      if (r.gateway) out += " via " + r.gateway->to_string();
      out += " dev #" + std::to_string(r.oif) + (r.onlink ? " onlink" : "") + "\n";
    }
    for (const auto& n : s->neighbours)
      out += std::string(sign) + " neigh " + (n.ip ? n.ip->to_string() : "?") + " lladdr " +
             netlink::format_mac(n.mac) + "\n";
    for (const auto& n : s->fdb)
      out += std::string(sign) + " fdb " + netlink::format_mac(n.mac) + " dst " +
             (n.fdb_dst ? n.fdb_dst->to_string() : "?") + "\n";
    for (const auto& a : s->vtep_addresses) out += std::string(sign) + " vtep address " + a.str() + "\n";
    for (const auto& a : s->lb_addresses) out += std::string(sign) + " lb address " + a.str() + "\n";
  }
  return out;
}

}  // namespace podnet::agent
