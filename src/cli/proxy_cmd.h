// `podnet proxy`: kube-proxy's job with podnet's nftables proxy. Informers on Services and
// EndpointSlices (all namespaces) feed the Proxier; syncs run when due; SIGTERM/SIGINT end it.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "common/ip.h"

namespace podnet::cli {

struct ProxyFlags {
  std::string kubeconfig;
  std::string hostname;               // empty: gethostname()
  std::vector<std::string> node_ips;  // empty: every non-loopback address of the host
  std::string min_sync_interval = "1s";
  std::string metrics_bind_address = "127.0.0.1:10249";  // kube-proxy's defaults; "" turns off
  std::string healthz_bind_address = "0.0.0.0:10256";
  bool cleanup = false;  // remove podnet's proxy tables and exit
};

int run_proxy(const ProxyFlags& flags);

// "127.0.0.1:10249", "[::1]:10249", "0.0.0.0:0".
Result<boost::asio::ip::tcp::endpoint> parse_bind_address(std::string_view text);
// "100ms", "1s", "2m", "1500us" (rounded down to ms).
Result<std::chrono::milliseconds> parse_duration(std::string_view text);
// Addresses NodePorts listen on: global and site addresses of every interface, not loopback or
// IPv6 link-local (no client can be sent to those through a NodePort service).
Result<std::vector<IpAddress>> host_addresses();
// Deletes `table ip <name>` and `table ip6 <name>` if they exist, in one transaction.
Status cleanup_proxy_tables(const std::string& table);

}  // namespace podnet::cli
