// Internal to podnet_netlink: RAII owners for libnl objects, address conversions and the mapping
// of libnl error codes back to errno.
#pragma once

#include <netlink/addr.h>
#include <netlink/cache.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/neighbour.h>
#include <netlink/route/route.h>

#include <memory>
#include <new>
#include <optional>
#include <string>

#include "common/c_ptr.h"
#include "netlink/link.h"

namespace podnet::netlink::detail {

using LinkPtr = CPtr<rtnl_link, rtnl_link_put>;
using AddrPtr = CPtr<nl_addr, nl_addr_put>;
using RtAddrPtr = CPtr<rtnl_addr, rtnl_addr_put>;
using RoutePtr = CPtr<rtnl_route, rtnl_route_put>;
using NeighPtr = CPtr<rtnl_neigh, rtnl_neigh_put>;
using CachePtr = CPtr<nl_cache, nl_cache_free>;

// libnl allocations only fail when memory is exhausted; treat that like operator new does.
template <class T>
T* must(T* p) {
  if (!p) throw std::bad_alloc();
  return p;
}

// errno for a negative NLE_* code. libnl folds ENOENT and ESRCH into NLE_OBJ_NOTFOUND, so the
// caller says which errno "absent" means for the object it works on.
int to_errno(int nle, int not_found = ENODEV);
// fail() with the libnl message in the context and the errno from to_errno().
std::unexpected<Error> nl_fail(const std::string& what, int nle, int not_found = ENODEV);

inline std::string link_ref(int index) {
  return "link #" + std::to_string(index);
}

AddrPtr nl_ip(const IpAddress& ip, int prefixlen);
AddrPtr nl_ip(const IpAddress& ip);  // host prefix: /32 or /128
AddrPtr nl_mac(const Mac& mac);
std::optional<IpAddress> from_nl(const nl_addr* a);  // nullopt unless a full IPv4/IPv6 address

}  // namespace podnet::netlink::detail
