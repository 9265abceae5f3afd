// IP addresses and prefixes (IPv4 and IPv6) on top of Boost.Asio's address types, plus the small
// amount of arithmetic IPAM and routing need: parse/format CIDRs, step addresses, test containment.
#pragma once

#include <boost/asio/ip/address.hpp>
#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/error.h"

namespace podnet {

using IpAddress = boost::asio::ip::address;

Result<IpAddress> parse_ip(std::string_view text);

// An address with a prefix length. `addr` may have host bits set ("10.0.0.5/24" is an interface
// address); network() clears them.
struct IpPrefix {
  IpAddress addr;
  int len = 0;

  bool is_v4() const { return addr.is_v4(); }
  int max_len() const { return addr.is_v4() ? 32 : 128; }
  IpPrefix network() const;
  bool contains(const IpAddress& a) const;
  // Number of the last address of the prefix (broadcast for IPv4).
  IpAddress last() const;
  std::string str() const;  // "10.0.0.5/24"
  bool operator==(const IpPrefix&) const = default;
};

// Parses "10.0.0.0/24" or "fd00::/64". Host bits are kept.
Result<IpPrefix> parse_prefix(std::string_view text);

// a + delta, wrapping is the caller's concern (check with IpPrefix::contains).
IpAddress ip_add(const IpAddress& a, int64_t delta);
// Total order within one family; IPv4 sorts before IPv6.
std::strong_ordering ip_compare(const IpAddress& a, const IpAddress& b);

}  // namespace podnet
