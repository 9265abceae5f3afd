// `podnet proxy`: kube-proxy's job with podnet's nftables proxy. Informers on Services and
// EndpointSlices (all namespaces) feed the Proxier; syncs run when due; SIGTERM/SIGINT end it.
#pragma once

#include <string>
#include <vector>

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

}  // namespace podnet::cli
