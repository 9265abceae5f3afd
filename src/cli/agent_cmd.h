// `podnet agent`: the node agent (issue 5, CONTRACTS.md). Flags to AgentOptions, kubeconfig to
// client, the real kernel and the embedded proxy; SIGTERM/SIGINT stop it with the network left in
// place; --cleanup removes what it programs in the current network namespace.
#pragma once

#include <string>
#include <vector>

#include "agent/pod_runner.h"

namespace podnet::cli {

struct AgentFlags {
  std::string kubeconfig;
  std::string node_name;  // empty: the host name
  std::string node_ip;    // empty: the first global IPv4 address of the host
  std::string overlay = "vxlan";
  std::string state_dir = "/var/lib/podnet/agent";
  // The node's ephemeral runtime state (IPAM leases, CNI plugin state, pods' mount namespaces and
  // resolver files) on a tmpfs, mounted there if it is none; empty: under state_dir.
  std::string run_dir;
  std::vector<std::string> cluster_cidrs{"10.244.0.0/16"};
  std::vector<std::string> lb_pools;  // LoadBalancer addresses this node may announce
  // kubelet's --cluster-dns (repeatable or comma-separated) and --cluster-domain.
  std::vector<std::string> cluster_dns;
  std::string cluster_domain = "cluster.local";
  std::string cni_bin;
  std::string cni_conf_dir;
  std::string bpf_dir;  // empty: <state_dir>/bpf
  bool fast_path = true;
  bool run_pods = false;
  bool proxy = true;
  bool network_policy = true;    // enforce NetworkPolicy (table inet podnet-policy)
  int policy_log_group = 10049;  // NFLOG group of the denied-connection log; 0: none
  std::string min_sync_interval = "50ms";
  std::string heartbeat_interval = "10s";
  std::string node_grace_period = "20s";
  // kubelet's --streaming-connection-idle-timeout: an exec, attach, port-forward or pod proxy session in
  // which nothing moved for this long is closed by the node.
  std::string streaming_idle_timeout = "4h";
  bool cleanup = false;
  // Node-local cluster DNS (docs/dns.md): "on" or "off" (a real cluster keeps CoreDNS).
  std::string dns = "off";
  std::vector<std::string> dns_upstreams;              // empty: /etc/resolv.conf's nameservers
  std::string dns_metrics_address = "127.0.0.1:9153";  // CoreDNS's port; empty: none
  // The log server's TLS (kubelet's flags): empty cert/key: <state_dir>/pki/kubelet.{crt,key};
  // empty client CA: the CA of --kubeconfig.
  std::string tls_cert_file;
  std::string tls_private_key_file;
  std::string client_ca_file;
};

// `pods` is the kubelet role used with --run-pods (empty: --run-pods only warns).
int run_agent(const AgentFlags& flags, agent::PodRunnerFactory pods = {});

}  // namespace podnet::cli
