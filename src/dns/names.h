// DNS names as the record store keys them: uncompressed, lower-case wire format held in a
// std::string ("\3web\4shop\3svc\7cluster\5local\0"), plus the names Kubernetes DNS derives.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/ip.h"

namespace podnet::dns {

using WireName = std::string;

// "web.shop.svc.cluster.local" (a trailing dot is allowed) -> wire format, lower-cased. Empty
// result: not a valid name (empty label, label > 63, name > 255, characters other than letters,
// digits, '-', '_' and '*').
WireName to_wire(std::string_view text);
std::string to_text(std::string_view wire);  // "web.shop.svc.cluster.local."

// `name` ends with `suffix` at a label boundary (both lower-case wire names).
bool in_zone(std::string_view name, std::string_view suffix);
// Number of labels of a wire name (the root has 0).
int label_count(std::string_view wire);
// The name with its first label removed; the root stays the root.
std::string_view parent(std::string_view wire);

// "10.96.0.10" -> "10.0.96.10.in-addr.arpa", IPv6 -> nibbles under ip6.arpa (wire format).
WireName reverse_name(const IpAddress& ip);
// CoreDNS's endpoint and pod label for an address: "10-244-1-5", "fd00--5" for IPv6.
std::string dashed(const IpAddress& ip);
// The inverse of dashed() for one label; nullopt when it is not an address.
std::optional<IpAddress> undashed(std::string_view label);

}  // namespace podnet::dns
