// A packet a NetworkPolicy deny rule dropped and logged (nft `log group N`, nflog.h): its log
// prefix and its network header decoded. Packet bytes are untrusted input: every read is bounded
// and nothing throws (fuzz/policy_nflog.cpp).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "common/ip.h"

namespace podnet::policy {

struct DeniedPacket {
  std::string direction;  // "ingress" or "egress" (the rule's log prefix)
  IpAddress src, dst;
  uint8_t protocol = 0;           // IP protocol number
  uint16_t sport = 0, dport = 0;  // 0 for protocols without ports
};

// The log prefix ("podnet-policy ingress ") and the packet from its network header on (IPv4 or
// IPv6; TCP, UDP and SCTP ports). Nullopt for a prefix that is not ours or a truncated header.
std::optional<DeniedPacket> decode_denied(std::string_view prefix, std::span<const uint8_t> packet);
std::string protocol_name(uint8_t protocol);  // "tcp", "udp", "sctp", "icmp", else the number

}  // namespace podnet::policy
