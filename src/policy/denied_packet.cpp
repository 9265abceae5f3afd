#include "policy/denied_packet.h"

#include <netinet/in.h>

#include <array>
#include <cstring>

namespace podnet::policy {
namespace {

constexpr std::string_view kPrefix = "podnet-policy ";

uint16_t be16(std::span<const uint8_t> p, size_t at) {
  return static_cast<uint16_t>(p[at] << 8 | p[at + 1]);
}

}  // namespace

std::optional<DeniedPacket> decode_denied(std::string_view prefix, std::span<const uint8_t> p) {
  if (!prefix.starts_with(kPrefix)) return std::nullopt;
  std::string_view dir = prefix.substr(kPrefix.size());
  while (!dir.empty() && dir.back() == ' ') dir.remove_suffix(1);
  if (dir != "ingress" && dir != "egress") return std::nullopt;
  DeniedPacket d;
  d.direction = std::string(dir);
  if (p.empty()) return std::nullopt;
  size_t l4 = 0;
  bool fragment = false;
  if ((p[0] >> 4) == 4) {
    if (p.size() < 20) return std::nullopt;
    size_t ihl = static_cast<size_t>(p[0] & 0x0f) * 4;
    if (ihl < 20 || ihl > p.size()) return std::nullopt;
    std::array<uint8_t, 4> s, t;
    std::memcpy(s.data(), &p[12], 4);
    std::memcpy(t.data(), &p[16], 4);
    d.src = boost::asio::ip::address_v4(s);
    d.dst = boost::asio::ip::address_v4(t);
    d.protocol = p[9];
    fragment = (be16(p, 6) & 0x1fff) != 0;  // a later fragment carries no ports
    l4 = ihl;
  } else if ((p[0] >> 4) == 6) {
    if (p.size() < 40) return std::nullopt;
    std::array<uint8_t, 16> s, t;
    std::memcpy(s.data(), &p[8], 16);
    std::memcpy(t.data(), &p[24], 16);
    d.src = boost::asio::ip::address_v6(s);
    d.dst = boost::asio::ip::address_v6(t);
    d.protocol = p[6];  // extension headers are not walked: ports stay 0 then
    l4 = 40;
  } else {
    return std::nullopt;
  }
  bool ports = d.protocol == IPPROTO_TCP || d.protocol == IPPROTO_UDP || d.protocol == IPPROTO_SCTP;
  if (ports && !fragment && p.size() >= l4 + 4) {
    d.sport = be16(p, l4);
    d.dport = be16(p, l4 + 2);
  }
  return d;
}

std::string protocol_name(uint8_t protocol) {
  switch (protocol) {
    case IPPROTO_TCP:
      return "tcp";
    case IPPROTO_UDP:
      return "udp";
    case IPPROTO_SCTP:
      return "sctp";
    case IPPROTO_ICMP:
      return "icmp";
    case IPPROTO_ICMPV6:
      return "icmpv6";
    default:
      return "proto " + std::to_string(protocol);
  }
}

}  // namespace podnet::policy
