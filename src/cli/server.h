// `podnet server`: flags of the Kubernetes-compatible API server, validated, then the server run
// until SIGTERM or SIGINT; or, with --issue-node-credential, a node agent's kubeconfig written.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace podnet::cli {

struct ServerFlags {
  std::string data_dir;
  std::string bind_address = "127.0.0.1";
  uint16_t port = 6443;
  std::string advertise_address;  // empty: the bind address, or the default route's interface address
  std::string service_cidr = "10.96.0.0/12";
  std::string cluster_cidr = "10.244.0.0/16";
  int node_cidr_mask = 24;
  std::string node_port_range = "30000-32767";
  std::string lb_pool;                       // empty: LoadBalancer services get no address
  std::string node_network;                  // where node InternalIPs must be; empty: not checked
  int node_monitor_grace_period = 40;        // seconds
  int pod_gc_quarantine = 5;                 // seconds
  int max_connections = 4096;                // apiserver::limits::kDefaultMaxConnections
  std::string event_ttl = "1h";              // a Go duration, as kube-apiserver's --event-ttl
  std::string event_rate_limit = "default";  // parse_event_rate_limits' syntax, "default" or "none"
  // One-shot mode: sign a node agent's credential, write its kubeconfig to `out` and exit.
  std::string issue_node_credential;
  std::string out;
  std::string server_url;  // empty: the server URL of DATA_DIR/admin.kubeconfig
  // With it: also the node's log-server serving certificate, <serving_cert_out>.{crt,key}, for the
  // node's name and these addresses (the API server dials the Node's InternalIP and verifies it).
  std::string serving_cert_out;
  std::vector<std::string> node_addresses;
};

int run_server(const ServerFlags& flags);

}  // namespace podnet::cli
