// What the node daemons' commands (`podnet agent`, `podnet proxy`) share for their flags and start:
// listen addresses, the host's NodePort addresses, removing the proxy's tables. Durations are
// common/time.h's parse_duration (Go's syntax, as kube's flags take them).
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "common/ip.h"

namespace podnet::cli {

// "127.0.0.1:10249", "[::1]:10249", "0.0.0.0:0".
Result<boost::asio::ip::tcp::endpoint> parse_bind_address(std::string_view text);
// Addresses NodePorts listen on: global and site addresses of every interface, not loopback or
// IPv6 link-local (no client can be sent to those through a NodePort service).
Result<std::vector<IpAddress>> host_addresses();
// Deletes `table ip <name>` and `table ip6 <name>` if they exist, in one transaction.
Status cleanup_proxy_tables(const std::string& table);

}  // namespace podnet::cli
