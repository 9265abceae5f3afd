// kube-proxy's conntrack cleanup for UDP (ConntrackCleanupServicePortEndpoints): UDP has no
// connection end, so an entry DNATed to a removed endpoint lives as long as the client keeps
// sending, and its packets never see the new rules. Matching is done here, on one dump, because
// ctnetlink cannot delete by reply tuple in one request.
#include "proxy/conntrack.h"

#include <netinet/in.h>
#include <netlink/addr.h>
#include <netlink/cache.h>
#include <netlink/netfilter/ct.h>
#include <netlink/netfilter/nfnl.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>

#include <algorithm>
#include <cstring>
#include <vector>

namespace podnet::proxy {
namespace {

using CachePtr = CPtr<nl_cache, nl_cache_free>;

std::unexpected<Error> nl_fail(const std::string& what, int nle) {
  return fail_msg(what + ": " + nl_geterror(nle));
}

bool same_addr(nl_addr* a, const Ip& ip) {
  return a && nl_addr_get_len(a) == ip.size() &&
         std::memcmp(nl_addr_get_binary_addr(a), ip.bytes.data(), ip.size()) == 0;
}

bool matches(nfnl_ct* ct, const StaleFlow& flow) {
  if (nfnl_ct_get_proto(ct) != flow.frontend.proto) return false;
  if (nfnl_ct_get_dst_port(ct, 0) != flow.frontend.port ||
      !same_addr(nfnl_ct_get_dst(ct, 0), flow.frontend.addr))
    return false;
  if (!flow.backend) return true;
  return nfnl_ct_get_src_port(ct, 1) == flow.backend->port &&
         same_addr(nfnl_ct_get_src(ct, 1), flow.backend->addr);
}

}  // namespace

Result<NetlinkConntrack> NetlinkConntrack::open() {
  SocketPtr sock(nl_socket_alloc());
  if (!sock) return fail("conntrack socket", ENOMEM);
  if (int err = nfnl_connect(sock.get()); err < 0) return nl_fail("connect ctnetlink", err);
  return NetlinkConntrack(std::move(sock));
}

Result<size_t> NetlinkConntrack::clear(std::span<const StaleFlow> flows) {
  if (flows.empty()) return size_t{0};
  nl_cache* raw = nullptr;
  if (int err = nfnl_ct_alloc_cache(sock_.get(), &raw); err < 0) return nl_fail("dump conntrack", err);
  CachePtr cache(raw);
  std::vector<nfnl_ct*> doomed;
  for (nl_object* o = nl_cache_get_first(cache.get()); o; o = nl_cache_get_next(o)) {
    auto* ct = reinterpret_cast<nfnl_ct*>(o);
    if (std::any_of(flows.begin(), flows.end(), [&](const StaleFlow& f) { return matches(ct, f); }))
      doomed.push_back(ct);
  }
  size_t deleted = 0;
  for (nfnl_ct* ct : doomed) {
    int err = nfnl_ct_del(sock_.get(), ct, 0);
    // Gone already (the entry timed out or the client's last packet closed it): nothing to do.
    if (err == -NLE_OBJ_NOTFOUND) continue;
    if (err < 0) return nl_fail("delete conntrack entry", err);
    ++deleted;
  }
  return deleted;
}

}  // namespace podnet::proxy
