// Which addresses a proxy may connect to (kept apart from ip.h, which half the tree includes).
#pragma once

#include "common/ip.h"

namespace podnet {

// Go's net.IP.IsGlobalUnicast, which kube-apiserver's pod and service proxies require: not
// unspecified, loopback, link-local (169.254/16, fe80::/10), multicast or 255.255.255.255. An
// IPv4-mapped IPv6 address is judged as the IPv4 address it carries.
bool ip_global_unicast(const IpAddress& a);

}  // namespace podnet
