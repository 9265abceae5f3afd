// `podnet agent` as a library: registers and heartbeats the Node, waits for its podCIDR, writes
// the CNI config, and runs the informers (nodes, services, endpointslices) that feed the one
// Reconciler (kernel network state), the embedded service proxy and, optionally, the pod runner.
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "agent/flows.h"
#include "agent/node.h"
#include "agent/pod_runner.h"
#include "agent/reconciler.h"
#include "client/informer.h"
#include "dns/feed.h"
#include "dns/metrics.h"
#include "dns/server.h"
#include "dns/store.h"
#include "fastpath/fastpath.h"
#include "policy/feed.h"
#include "proxy/feed.h"

namespace podnet::agent {

struct AgentOptions {
  LocalNode node;  // name, ip, hostname, overlay (vtep_mac is filled in by the agent)
  std::vector<IpPrefix> cluster_cidrs;
  std::string state_dir;
  // The node's ephemeral runtime state (IPAM leases, CNI plugin state, pods' mount namespaces and
  // resolver files), on a tmpfs the caller made (runtime::ensure_tmpfs); empty: under state_dir.
  std::string run_dir;
  std::string cni_conf_dir;  // extra copy of the conflist, empty: none
  std::string cni_bin;
  std::string bpf_dir;  // the eBPF fast path's bpffs directory; empty: no fast path
  // LoadBalancer addresses the node may announce (the API server's --lb-pool); empty: none.
  std::vector<IpPrefix> lb_pools;
  std::chrono::milliseconds heartbeat_interval{10000};
  std::chrono::milliseconds node_grace{20000};      // heartbeat age after which a node is not Ready
  std::chrono::milliseconds resync_interval{1000};  // reconcile at least this often (readiness ages)
  PodRunnerFactory pod_runner;                      // empty: no kubelet role
  // Pod DNS (kubelet's --cluster-dns and --cluster-domain), for the pod runner: the nameservers of
  // ClusterFirst pods (their search domains: cluster_domain below).
  std::vector<IpAddress> cluster_dns;
  // The node-local cluster DNS (docs/dns.md): served on the ClusterIP(s) of kube-system/kube-dns,
  // added to the node's lo, port 53, with the proxy leaving those frontends alone.
  bool dns = false;
  std::string cluster_domain = "cluster.local";
  std::vector<std::string> dns_upstreams;  // "IP[:PORT]"; empty: the nameservers of /etc/resolv.conf
  // NetworkPolicy enforcement (docs/networkpolicy.md); null: none. Not owned.
  policy::PolicyFeed* network_policy = nullptr;
  // Its denied-connection log (an NFLOG group the deny rules log to); null: none. Not owned.
  policy::NflogReader* network_policy_log = nullptr;
};

// The DNS Service the agent serves locally (kube-dns's name, as every cluster names it).
inline constexpr const char* kDnsServiceKey = "kube-system/kube-dns";

class Agent {
 public:
  // `proxier`: the embedded service proxy (null: none). All references outlive the agent.
  Agent(k8s::ApiClient& api, NetKernel& kernel, proxy::Proxier* proxier, AgentOptions options);
  ~Agent();

  // Blocks until stop() (0 errors) or a fatal start-up error. Leaves the kernel state in place.
  Status run();
  void stop();  // thread-safe

  // The DNS server's counters (CoreDNS names), null when DNS is off.
  const dns::DnsMetrics* dns_metrics() const { return opts_.dns ? &dns_metrics_ : nullptr; }

 private:
  class NodeHandler;
  class ServiceHandler;
  class SliceHandler;

  Status register_node();
  Status post_status();
  void set_network_ready();
  void heartbeat_loop();
  Status write_cni_config(const IpPrefix& cidr);
  const std::string& run_dir() const { return opts_.run_dir.empty() ? opts_.state_dir : opts_.run_dir; }
  void open_fastpath();
  Status sync_fastpath(const ClusterView& view);
  void fastpath_pods_loop();
  void update_fast_flags(const policy::TableState& s);
  std::function<Status(const boost::json::value&, const std::vector<std::string>&)> admit_pod_hook();
  std::function<Result<std::string>(std::string_view, std::string_view)> policy_counters_hook();
  ClusterView view_locked(SystemTime now);
  Status sync_dns(const std::vector<IpAddress>& want);
  void stop_dns_server();
  bool wait_locked(std::unique_lock<std::mutex>& l, std::chrono::milliseconds d);

  k8s::ApiClient& api_;
  NetKernel& kernel_;
  proxy::Proxier* proxier_;
  AgentOptions opts_;
  Reconciler reconciler_;
  std::unique_ptr<proxy::ProxyFeed> feed_;
  std::unique_ptr<NodeHandler> node_handler_;
  std::unique_ptr<ServiceHandler> service_handler_;
  std::unique_ptr<SliceHandler> slice_handler_;
  // Cluster DNS (opts_.dns): the store fed by the informers, the server on the run() thread's
  // side, and the kube-dns ClusterIPs wanted (under mu_) and served (run() thread).
  std::unique_ptr<dns::RecordStore> dns_store_;
  std::unique_ptr<dns::StoreFeed> dns_feed_;
  dns::DnsMetrics dns_metrics_;
  std::unique_ptr<dns::Server> dns_server_;
  std::thread dns_thread_;
  std::vector<IpAddress> dns_ips_, dns_served_;
  bool dns_failed_logged_ = false;
  // The Ready condition posted. An agent that runs pods is its node's kubelet and, like kubelet
  // with no CNI config, reports Ready=False until its network is in place (CNI config written,
  // routes and fast path programmed); otherwise, and after a restart, Ready from the start.
  std::mutex status_mu_;
  bool network_ready_ = false;
  SystemTime ready_since_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool dirty_ = true;
  bool nodes_synced_ = false, services_synced_ = false;
  std::map<std::string, NodeInfo> nodes_;
  std::map<std::string, std::vector<IpAddress>> lb_ips_;  // by service key
  std::vector<IpAddress> announced_;                      // logged when it changes

  // The eBPF fast path (run() thread only): what it was last told, to write only changes.
  std::optional<fastpath::FastPath> fast_;
  std::optional<fastpath::NodeConfig> fast_config_;
  std::vector<fastpath::Tunnel> fast_tunnels_;
  std::vector<int> fast_attached_;
  // pn_pods flags from the last NetworkPolicy sync (pod address, network order -> PN_POD_*); the
  // pods loop also applies them to entries podnet-cni adds later. Empty until the first sync.
  std::mutex fast_flags_mu_;
  std::optional<std::map<uint32_t, uint16_t>> fast_flags_;
  // `podnet flows`: the fast path's flow reports and the policy's logged drops (flows.h).
  std::shared_ptr<FlowLog> flows_ = std::make_shared<FlowLog>();
};

}  // namespace podnet::agent
