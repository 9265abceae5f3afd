// kube's ValidateNonSpecialIP: addresses no client can be sent to (unspecified, loopback, link-local,
// link-local multicast), with kube's messages. Shared by Service externalIPs and Node addresses.
#pragma once

#include <string>
#include <vector>

#include "common/ip.h"

namespace podnet::apiserver {

// An IPv4-mapped IPv6 address (::ffff:10.0.0.1) as the IPv4 address it reaches; others unchanged.
IpAddress unmapped(const IpAddress& ip);

// One message per special range `ip` is in ("may not be in the loopback range (127.0.0.0/8,
// ::1/128)"); empty for an ordinary address. `text` is how the client wrote the address.
std::vector<std::string> special_ip_errors(const IpAddress& ip, const std::string& text);

}  // namespace podnet::apiserver
