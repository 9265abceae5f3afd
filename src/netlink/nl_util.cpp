#include "netlink/nl_util.h"

#include <netlink/errno.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdlib>
#include <utility>

namespace podnet::netlink::detail {

int to_errno(int nle, int not_found) {
  // The inverse of libnl's nl_syserr2nlerr(), as far as it can be inverted.
  static constexpr std::pair<int, int> kMap[] = {
      {NLE_EXIST, EEXIST},
      {NLE_NODEV, ENODEV},
      {NLE_NOADDR, EADDRNOTAVAIL},
      {NLE_PERM, EPERM},
      {NLE_NOACCESS, EACCES},
      {NLE_BUSY, EBUSY},
      {NLE_INVAL, EINVAL},
      {NLE_MISSING_ATTR, EINVAL},
      {NLE_AF_MISMATCH, EINVAL},
      {NLE_RANGE, ERANGE},
      {NLE_NOMEM, ENOMEM},
      {NLE_AGAIN, EAGAIN},
      {NLE_DUMP_INTR, EAGAIN},
      {NLE_INTR, EINTR},
      {NLE_OPNOTSUPP, EOPNOTSUPP},
      {NLE_AF_NOSUPPORT, EAFNOSUPPORT},
      {NLE_PROTO_MISMATCH, EPROTONOSUPPORT},
      {NLE_BAD_SOCK, EBADF},
      {NLE_MSGSIZE, EMSGSIZE},
      {NLE_MSG_TOOSHORT, EMSGSIZE},
      {NLE_MSG_TRUNC, EMSGSIZE},
      {NLE_MSG_OVERFLOW, ENOBUFS},
  };
  int code = std::abs(nle);
  if (code == NLE_OBJ_NOTFOUND) return not_found;
  auto it = std::find_if(std::begin(kMap), std::end(kMap), [&](auto& m) { return m.first == code; });
  return it == std::end(kMap) ? EIO : it->second;
}

std::unexpected<Error> nl_fail(const std::string& what, int nle, int not_found) {
  return fail(what + " (netlink: " + nl_geterror(nle) + ")", to_errno(nle, not_found));
}

AddrPtr nl_ip(const IpAddress& ip, int prefixlen) {
  nl_addr* a;
  if (ip.is_v4()) {
    auto b = ip.to_v4().to_bytes();
    a = must(nl_addr_build(AF_INET, b.data(), b.size()));
  } else {
    auto b = ip.to_v6().to_bytes();
    a = must(nl_addr_build(AF_INET6, b.data(), b.size()));
  }
  nl_addr_set_prefixlen(a, prefixlen);
  return AddrPtr(a);
}

AddrPtr nl_ip(const IpAddress& ip) {
  return nl_ip(ip, ip.is_v4() ? 32 : 128);
}

AddrPtr nl_mac(const Mac& mac) {
  return AddrPtr(must(nl_addr_build(AF_LLC, mac.data(), mac.size())));
}

std::optional<IpAddress> from_nl(const nl_addr* a) {
  if (!a) return std::nullopt;
  const auto* bytes = static_cast<const uint8_t*>(nl_addr_get_binary_addr(a));
  if (nl_addr_get_family(a) == AF_INET && nl_addr_get_len(a) == 4) {
    boost::asio::ip::address_v4::bytes_type b;
    std::copy_n(bytes, b.size(), b.begin());
    return IpAddress(boost::asio::ip::address_v4(b));
  }
  if (nl_addr_get_family(a) == AF_INET6 && nl_addr_get_len(a) == 16) {
    boost::asio::ip::address_v6::bytes_type b;
    std::copy_n(bytes, b.size(), b.begin());
    return IpAddress(boost::asio::ip::address_v6(b));
  }
  return std::nullopt;
}

}  // namespace podnet::netlink::detail
