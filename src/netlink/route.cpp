// Addresses, routes, neighbours and bridge FDB entries.
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <netlink/cache.h>
#include <netlink/route/nexthop.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>

#include "netlink/link.h"
#include "netlink/nl_util.h"

namespace podnet::netlink {
using namespace detail;
namespace {

Result<std::vector<IpPrefix>> list_addresses_matching(nl_sock* sock_, int index, int family,
                                                      const std::string* label);

IpAddress any_address(int family) {
  if (family == AF_INET6) return boost::asio::ip::address_v6::any();
  return boost::asio::ip::address_v4::any();
}

std::string route_ref(const RouteSpec& r) {
  std::string s = r.dst.network().str();
  if (r.gateway) s += " via " + r.gateway->to_string();
  if (r.oif) s += " dev #" + std::to_string(r.oif);
  if (r.table != RT_TABLE_MAIN) s += " table " + std::to_string(r.table);
  return s;
}

// For deletion, unset fields (protocol, scope) are wildcards, like `ip route del`.
Result<RoutePtr> build_route(const RouteSpec& r, bool for_delete, const std::string& what) {
  bool v4 = r.dst.is_v4();
  if ((r.gateway && r.gateway->is_v4() != v4) || (r.src && r.src->is_v4() != v4))
    return fail(what + ": addresses of different families", EINVAL);
  if (!for_delete && !r.gateway && r.oif == 0)
    return fail(what + ": a route needs a gateway or an output interface", EINVAL);

  RoutePtr route(must(rtnl_route_alloc()));
  rtnl_route_set_family(route.get(), v4 ? AF_INET : AF_INET6);
  rtnl_route_set_table(route.get(), r.table);
  rtnl_route_set_type(route.get(), RTN_UNICAST);
  // The kernel rejects IPv4 destinations with host bits set; normalise instead.
  auto dst = nl_ip(r.dst.network().addr, r.dst.len);
  if (int err = rtnl_route_set_dst(route.get(), dst.get()); err < 0) return nl_fail(what, err);
  if (for_delete) {
    rtnl_route_set_protocol(route.get(), r.protocol >= 0 ? r.protocol : RTPROT_UNSPEC);
    rtnl_route_set_scope(route.get(), r.scope >= 0 ? r.scope : RT_SCOPE_NOWHERE);
  } else {
    rtnl_route_set_protocol(route.get(), r.protocol >= 0 ? r.protocol : RTPROT_BOOT);
    int scope = r.scope >= 0 ? r.scope : (r.gateway ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK);
    rtnl_route_set_scope(route.get(), scope);
  }
  if (r.src) {
    auto src = nl_ip(*r.src);
    if (int err = rtnl_route_set_pref_src(route.get(), src.get()); err < 0) return nl_fail(what, err);
  }
  if (r.mtu) rtnl_route_set_metric(route.get(), RTAX_MTU, r.mtu);
  if (r.gateway || r.oif) {
    rtnl_nexthop* nh = must(rtnl_route_nh_alloc());
    if (r.oif) rtnl_route_nh_set_ifindex(nh, r.oif);
    if (r.gateway) rtnl_route_nh_set_gateway(nh, nl_ip(*r.gateway).get());
    if (r.onlink) rtnl_route_nh_set_flags(nh, RTNH_F_ONLINK);
    rtnl_route_add_nexthop(route.get(), nh);  // the route owns nh from here
  }
  return route;
}

RouteSpec to_spec(rtnl_route* route) {
  RouteSpec r;
  int family = rtnl_route_get_family(route);
  nl_addr* dst = rtnl_route_get_dst(route);
  r.dst = {from_nl(dst).value_or(any_address(family)),
           dst ? static_cast<int>(nl_addr_get_prefixlen(dst)) : 0};
  r.table = static_cast<int>(rtnl_route_get_table(route));
  r.scope = rtnl_route_get_scope(route);
  r.protocol = rtnl_route_get_protocol(route);
  r.src = from_nl(rtnl_route_get_pref_src(route));
  uint32_t mtu = 0;
  if (rtnl_route_get_metric(route, RTAX_MTU, &mtu) == 0) r.mtu = mtu;
  if (rtnl_route_get_nnexthops(route) > 0) {
    rtnl_nexthop* nh = rtnl_route_nexthop_n(route, 0);
    r.oif = rtnl_route_nh_get_ifindex(nh);
    r.gateway = from_nl(rtnl_route_nh_get_gateway(nh));
    r.onlink = (rtnl_route_nh_get_flags(nh) | rtnl_route_get_flags(route)) & RTNH_F_ONLINK;
  }
  return r;
}

std::string neigh_ref(const NeighSpec& n) {
  std::string s = format_mac(n.mac);
  if (n.ip) s = n.ip->to_string() + " lladdr " + s;
  if (n.fdb_dst) s += " dst " + n.fdb_dst->to_string();
  return s + " dev #" + std::to_string(n.ifindex);
}

NeighPtr build_fdb(const NeighSpec& n) {
  NeighPtr ne(must(rtnl_neigh_alloc()));
  rtnl_neigh_set_ifindex(ne.get(), n.ifindex);
  // rtnl_neigh_set_dst() takes the family from the address, so AF_BRIDGE must be set after it.
  if (n.fdb_dst) rtnl_neigh_set_dst(ne.get(), nl_ip(*n.fdb_dst).get());
  rtnl_neigh_set_family(ne.get(), AF_BRIDGE);
  rtnl_neigh_set_lladdr(ne.get(), nl_mac(n.mac).get());
  rtnl_neigh_set_flags(ne.get(), NTF_SELF);
  rtnl_neigh_set_state(ne.get(), n.permanent ? NUD_PERMANENT : NUD_REACHABLE);
  return ne;
}

}  // namespace

// ---- addresses --------------------------------------------------------------------------------

Status Netlink::add_address(int index, const IpPrefix& addr, unsigned flags, const std::string& label) {
  std::string what = "add address " + addr.str() + " to " + link_ref(index);
  RtAddrPtr a(must(rtnl_addr_alloc()));
  rtnl_addr_set_ifindex(a.get(), index);
  if (int err = rtnl_addr_set_local(a.get(), nl_ip(addr.addr, addr.len).get()); err < 0)
    return nl_fail(what, err);
  // Like `ip addr add ... brd +`; /31 and /32 have no broadcast address.
  if (addr.is_v4() && addr.len < 31) {
    if (int err = rtnl_addr_set_broadcast(a.get(), nl_ip(addr.last()).get()); err < 0)
      return nl_fail(what, err);
  }
  if (flags) rtnl_addr_set_flags(a.get(), flags);
  if (!label.empty()) {
    if (label.size() > 15) return fail(what + ": label " + label + " is longer than 15 characters", EINVAL);
    rtnl_addr_set_label(a.get(), label.c_str());
  }
  if (int err = rtnl_addr_add(sock_, a.get(), NLM_F_EXCL); err < 0) return nl_fail(what, err);
  return {};
}

Status Netlink::delete_address(int index, const IpPrefix& addr) {
  std::string what = "delete address " + addr.str() + " from " + link_ref(index);
  RtAddrPtr a(must(rtnl_addr_alloc()));
  rtnl_addr_set_ifindex(a.get(), index);
  if (int err = rtnl_addr_set_local(a.get(), nl_ip(addr.addr, addr.len).get()); err < 0)
    return nl_fail(what, err);
  if (int err = rtnl_addr_delete(sock_, a.get(), 0); err < 0) return nl_fail(what, err, EADDRNOTAVAIL);
  return {};
}

Result<std::vector<IpPrefix>> Netlink::list_addresses(int index, int family) {
  return list_addresses_matching(sock_, index, family, nullptr);
}

Result<std::vector<IpPrefix>> Netlink::list_labelled_addresses(int index, const std::string& label) {
  return list_addresses_matching(sock_, index, AF_INET, &label);
}

Status Netlink::add_address_with_proto(int index, const IpPrefix& addr, unsigned flags, uint8_t proto) {
  std::string what =
      "add address " + addr.str() + " (proto " + std::to_string(proto) + ") to " + link_ref(index);
  nl_msg* msg = must(nlmsg_alloc_simple(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL));
  ifaddrmsg ifa{};
  ifa.ifa_family = addr.is_v4() ? AF_INET : AF_INET6;
  ifa.ifa_prefixlen = static_cast<unsigned char>(addr.len);
  ifa.ifa_index = static_cast<unsigned>(index);
  ifa.ifa_flags = static_cast<unsigned char>(flags & 0xff);
  std::string bytes;
  if (addr.is_v4()) {
    auto b = addr.addr.to_v4().to_bytes();
    bytes.assign(b.begin(), b.end());
  } else {
    auto b = addr.addr.to_v6().to_bytes();
    bytes.assign(b.begin(), b.end());
  }
  bool ok = nlmsg_append(msg, &ifa, sizeof ifa, NLMSG_ALIGNTO) >= 0 &&
            nla_put(msg, IFA_LOCAL, static_cast<int>(bytes.size()), bytes.data()) >= 0 &&
            nla_put(msg, IFA_ADDRESS, static_cast<int>(bytes.size()), bytes.data()) >= 0 &&
            nla_put_u32(msg, IFA_FLAGS, flags) >= 0 && nla_put_u8(msg, IFA_PROTO, proto) >= 0;
  if (!ok) {
    nlmsg_free(msg);
    return fail(what + ": build request", EMSGSIZE);
  }
  if (int err = nl_send_sync(sock_, msg); err < 0) return nl_fail(what, err);
  return {};
}

Result<std::vector<std::pair<int, IpPrefix>>> Netlink::list_addresses_with_proto(int index, int family,
                                                                                 uint8_t proto) {
  struct Ctx {
    int index, family;
    uint8_t proto;
    std::vector<std::pair<int, IpPrefix>> out;
  } ctx{index, family, proto, {}};
  ifaddrmsg req{};
  req.ifa_family = static_cast<unsigned char>(family);
  if (int err = nl_send_simple(sock_, RTM_GETADDR, NLM_F_DUMP, &req, sizeof req); err < 0)
    return nl_fail("list addresses", err);
  nl_cb* cb = must(nl_cb_alloc(NL_CB_DEFAULT));
  nl_cb_set(
      cb, NL_CB_VALID, NL_CB_CUSTOM,
      [](nl_msg* m, void* arg) -> int {
        auto* c = static_cast<Ctx*>(arg);
        nlmsghdr* h = nlmsg_hdr(m);
        if (h->nlmsg_type != RTM_NEWADDR) return NL_OK;
        const auto* ifa = static_cast<const ifaddrmsg*>(nlmsg_data(h));
        if (ifa->ifa_family != c->family || (c->index != 0 && static_cast<int>(ifa->ifa_index) != c->index))
          return NL_OK;
        nlattr* tb[IFA_MAX + 1] = {};
        if (nlmsg_parse(h, sizeof *ifa, tb, IFA_MAX, nullptr) < 0) return NL_OK;
        if (!tb[IFA_PROTO] || nla_get_u8(tb[IFA_PROTO]) != c->proto) return NL_OK;
        const nlattr* a = tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS];
        if (!a) return NL_OK;
        if (ifa->ifa_family == AF_INET && nla_len(a) == 4) {
          boost::asio::ip::address_v4::bytes_type b;
          std::memcpy(b.data(), nla_data(a), 4);
          c->out.push_back({static_cast<int>(ifa->ifa_index),
                            {IpAddress(boost::asio::ip::address_v4(b)), ifa->ifa_prefixlen}});
        } else if (ifa->ifa_family == AF_INET6 && nla_len(a) == 16) {
          boost::asio::ip::address_v6::bytes_type b;
          std::memcpy(b.data(), nla_data(a), 16);
          c->out.push_back({static_cast<int>(ifa->ifa_index),
                            {IpAddress(boost::asio::ip::address_v6(b)), ifa->ifa_prefixlen}});
        }
        return NL_OK;
      },
      &ctx);
  int err = nl_recvmsgs(sock_, cb);
  nl_cb_put(cb);
  if (err < 0) return nl_fail("list addresses", err);
  return ctx.out;
}

namespace {
Result<std::vector<IpPrefix>> list_addresses_matching(nl_sock* sock_, int index, int family,
                                                      const std::string* label) {
  // A dump filtered by the kernel to one link (strict checking, Linux 5.0+): a node with hundreds
  // of pod veths (each with IPv6 link-local addresses) would otherwise send them all every time.
  int fd = nl_socket_get_fd(sock_);
  int one = 1, zero = 0;
  bool strict = ::setsockopt(fd, SOL_NETLINK, NETLINK_GET_STRICT_CHK, &one, sizeof one) == 0;
  nl_cache* c = nullptr;
  int err = nl_cache_alloc_name("route/addr", &c);
  if (err >= 0) {
    ifaddrmsg req{};
    req.ifa_family = static_cast<unsigned char>(family);
    req.ifa_index = static_cast<unsigned>(index);
    err = nl_send_simple(sock_, RTM_GETADDR, NLM_F_DUMP, &req, sizeof req);
    if (err >= 0) err = nl_cache_pickup(sock_, c);
  }
  if (strict) ::setsockopt(fd, SOL_NETLINK, NETLINK_GET_STRICT_CHK, &zero, sizeof zero);
  CachePtr cache(c);
  if (err < 0) return nl_fail("list addresses of " + link_ref(index), err);
  std::vector<IpPrefix> out;
  for (nl_object* o = nl_cache_get_first(c); o; o = nl_cache_get_next(o)) {
    auto* a = reinterpret_cast<rtnl_addr*>(o);
    if (rtnl_addr_get_ifindex(a) != index) continue;
    if (family != AF_UNSPEC && rtnl_addr_get_family(a) != family) continue;
    if (label && (!rtnl_addr_get_label(a) || *label != rtnl_addr_get_label(a))) continue;
    if (auto ip = from_nl(rtnl_addr_get_local(a))) out.push_back({*ip, rtnl_addr_get_prefixlen(a)});
  }
  return out;
}
}  // namespace

// ---- routes -----------------------------------------------------------------------------------

Status Netlink::add_route(const RouteSpec& r) {
  std::string what = "add route " + route_ref(r);
  auto route = build_route(r, false, what);
  if (!route) return std::unexpected(route.error());
  if (int err = rtnl_route_add(sock_, route->get(), NLM_F_EXCL); err < 0) return nl_fail(what, err, ESRCH);
  return {};
}

Status Netlink::replace_route(const RouteSpec& r) {
  std::string what = "replace route " + route_ref(r);
  auto route = build_route(r, false, what);
  if (!route) return std::unexpected(route.error());
  if (int err = rtnl_route_add(sock_, route->get(), NLM_F_REPLACE); err < 0) return nl_fail(what, err, ESRCH);
  return {};
}

Status Netlink::delete_route(const RouteSpec& r) {
  std::string what = "delete route " + route_ref(r);
  auto route = build_route(r, true, what);
  if (!route) return std::unexpected(route.error());
  if (int err = rtnl_route_delete(sock_, route->get(), 0); err < 0) return nl_fail(what, err, ESRCH);
  return {};
}

Result<std::vector<RouteSpec>> Netlink::list_routes(int family, int table) {
  nl_cache* c = nullptr;
  if (int err = rtnl_route_alloc_cache(sock_, family, 0, &c); err < 0)
    return nl_fail("list routes of table " + std::to_string(table), err);
  CachePtr cache(c);
  std::vector<RouteSpec> out;
  for (nl_object* o = nl_cache_get_first(c); o; o = nl_cache_get_next(o)) {
    auto* route = reinterpret_cast<rtnl_route*>(o);
    if (rtnl_route_get_table(route) != static_cast<uint32_t>(table)) continue;
    if (rtnl_route_get_type(route) != RTN_UNICAST) continue;
    if (family != AF_UNSPEC && rtnl_route_get_family(route) != family) continue;
    out.push_back(to_spec(route));
  }
  return out;
}

// ---- neighbours and FDB -------------------------------------------------------------------------

Status Netlink::add_neighbour(const NeighSpec& n) {
  std::string what = "add neighbour " + neigh_ref(n);
  if (!n.ip) return fail(what + ": no IP address (bridge entries go through add_fdb)", EINVAL);
  NeighPtr ne(must(rtnl_neigh_alloc()));
  rtnl_neigh_set_ifindex(ne.get(), n.ifindex);
  if (int err = rtnl_neigh_set_dst(ne.get(), nl_ip(*n.ip).get()); err < 0) return nl_fail(what, err);
  rtnl_neigh_set_lladdr(ne.get(), nl_mac(n.mac).get());
  rtnl_neigh_set_state(ne.get(), n.permanent ? NUD_PERMANENT : NUD_REACHABLE);
  if (int err = rtnl_neigh_add(sock_, ne.get(), NLM_F_CREATE | NLM_F_REPLACE); err < 0)
    return nl_fail(what, err, ENOENT);
  return {};
}

Status Netlink::delete_neighbour(const NeighSpec& n) {
  std::string what = "delete neighbour " + neigh_ref(n);
  if (!n.ip) return fail(what + ": no IP address (bridge entries go through delete_fdb)", EINVAL);
  NeighPtr ne(must(rtnl_neigh_alloc()));
  rtnl_neigh_set_ifindex(ne.get(), n.ifindex);
  if (int err = rtnl_neigh_set_dst(ne.get(), nl_ip(*n.ip).get()); err < 0) return nl_fail(what, err);
  if (int err = rtnl_neigh_delete(sock_, ne.get(), 0); err < 0) return nl_fail(what, err, ENOENT);
  return {};
}

Status Netlink::add_fdb(const NeighSpec& n) {
  std::string what = "add fdb entry " + neigh_ref(n);
  // An all-zero MAC is a VXLAN flood entry holding one remote per VTEP: append to it (an existing
  // remote is not an error); any other MAC has one destination, which is replaced.
  bool flood = std::all_of(n.mac.begin(), n.mac.end(), [](uint8_t b) { return b == 0; });
  int flags = NLM_F_CREATE | (flood ? NLM_F_APPEND : NLM_F_REPLACE);
  if (int err = rtnl_neigh_add(sock_, build_fdb(n).get(), flags); err < 0) return nl_fail(what, err, ENOENT);
  return {};
}

Status Netlink::delete_fdb(const NeighSpec& n) {
  std::string what = "delete fdb entry " + neigh_ref(n);
  if (int err = rtnl_neigh_delete(sock_, build_fdb(n).get(), 0); err < 0) return nl_fail(what, err, ENOENT);
  return {};
}

Result<std::vector<NeighSpec>> Netlink::list_neighbours(int ifindex, int family) {
  std::vector<NeighSpec> out;
  nl_cache* c = nullptr;
  if (int err = rtnl_neigh_alloc_cache(sock_, &c); err < 0)
    return nl_fail("list neighbours of " + link_ref(ifindex), err);
  CachePtr cache(c);
  for (nl_object* o = nl_cache_get_first(c); o; o = nl_cache_get_next(o)) {
    auto* ne = reinterpret_cast<rtnl_neigh*>(o);
    int fam = rtnl_neigh_get_family(ne);
    if (rtnl_neigh_get_ifindex(ne) != ifindex || (fam != AF_INET && fam != AF_INET6)) continue;
    if (family != AF_UNSPEC && fam != family) continue;
    NeighSpec n;
    n.ifindex = ifindex;
    n.ip = from_nl(rtnl_neigh_get_dst(ne));
    if (!n.ip) continue;
    if (nl_addr* ll = rtnl_neigh_get_lladdr(ne); ll && nl_addr_get_len(ll) == 6)
      std::memcpy(n.mac.data(), nl_addr_get_binary_addr(ll), 6);
    n.permanent = rtnl_neigh_get_state(ne) & NUD_PERMANENT;
    out.push_back(n);
  }
  return out;
}

Result<std::vector<NeighSpec>> Netlink::list_fdb(int ifindex) {
  std::vector<NeighSpec> out;
  // A dump of family AF_UNSPEC covers the ARP and NDP tables only; FDB entries need AF_BRIDGE.
  nl_cache* c = nullptr;
  int err = nl_cache_alloc_name("route/neigh", &c);
  CachePtr cache(c);
  if (err >= 0) {
    ndmsg req{};
    req.ndm_family = AF_BRIDGE;
    err = nl_send_simple(sock_, RTM_GETNEIGH, NLM_F_DUMP, &req, sizeof req);
    if (err >= 0) err = nl_cache_pickup(sock_, c);
  }
  if (err < 0) return nl_fail("list fdb entries of " + link_ref(ifindex), err);
  for (nl_object* o = nl_cache_get_first(c); o; o = nl_cache_get_next(o)) {
    auto* ne = reinterpret_cast<rtnl_neigh*>(o);
    if (rtnl_neigh_get_ifindex(ne) != ifindex || rtnl_neigh_get_family(ne) != AF_BRIDGE) continue;
    NeighSpec n;
    n.ifindex = ifindex;
    nl_addr* ll = rtnl_neigh_get_lladdr(ne);
    if (!ll || nl_addr_get_len(ll) != 6) continue;
    std::memcpy(n.mac.data(), nl_addr_get_binary_addr(ll), 6);
    n.fdb_dst = from_nl(rtnl_neigh_get_dst(ne));
    n.permanent = rtnl_neigh_get_state(ne) & (NUD_PERMANENT | NUD_NOARP);
    out.push_back(n);
  }
  return out;
}

}  // namespace podnet::netlink
