// The layout of a `podnet up` cluster: every name, address and path derived from the cluster id,
// the underlay prefix and the node count, as CONTRACTS.md fixes them. Pure computation, plus the
// record of a cluster (STATE/cluster.json) that `up` writes before it creates anything, so `down`
// knows what to remove even after a crash half-way through `up`.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/ip.h"

namespace podnet::cluster {

inline constexpr const char* kDefaultStateDir = "/var/lib/podnet/up";
inline constexpr const char* kDefaultUnderlay = "192.168.213.0/24";

// What `podnet up` was asked for; stored in STATE/cluster.json.
struct ClusterSpec {
  std::string state_dir;  // absolute
  std::string cid;        // 4 lowercase hex digits
  IpPrefix underlay;      // network address and length, e.g. 192.168.213.0/24
  int nodes = 3;
  std::string overlay = "vxlan";  // "vxlan" or "host-gw"
  uint16_t api_port = 6443;
  std::string cluster_cidr = "10.244.0.0/16";
  std::string service_cidr = "10.96.0.0/12";
  bool fast_path = true;  // the agents' eBPF fast path (docs/agent.md)
  bool agents = true;     // false: `up --no-agents`, node namespaces only
  bool dns = true;        // the agents' node-local cluster DNS and kube-system/kube-dns (docs/dns.md)
};

// Checks what no kernel call can catch later: ranges that collide, too many nodes for the prefix.
Status validate(const ClusterSpec& spec);

class Layout {
 public:
  explicit Layout(ClusterSpec spec) : spec_(std::move(spec)) {}
  const ClusterSpec& spec() const { return spec_; }

  // The underlay ("the wire" between the nodes and the outside) is a bridge in a namespace of its
  // own, so node-to-node traffic never meets the root namespace's firewall (br_netfilter). The root
  // namespace gets one veth into it, with the gateway address: the API server's address, and how
  // the outside reaches node IPs, NodePorts and LoadBalancer IPs.
  std::string underlay_netns() const { return "pn-" + spec_.cid + "-underlay"; }
  static constexpr const char* kUnderlayBridge = "pnbr0";     // in underlay_netns()
  static constexpr const char* kUnderlayRootPort = "pnroot";  // in underlay_netns(), peer of root_link()
  std::string root_link() const { return "pnu" + spec_.cid; }
  IpPrefix gateway() const;  // 192.168.X.1/24
  IpPrefix lb_pool() const;  // 192.168.X.240/28
  // The cluster DNS Service's ClusterIP (kube-system/kube-dns): the 10th address of the service
  // range, e.g. 10.96.0.10, as kubeadm sets it; the agents' --cluster-dns.
  IpAddress cluster_dns() const;

  // Node i counts from 1.
  std::string node_name(int i) const { return "node" + std::to_string(i); }
  std::string node_netns(int i) const { return "pn-" + spec_.cid + "-node" + std::to_string(i); }
  // Node i's port on the underlay bridge (in underlay_netns(); its peer is the node's eth0).
  std::string node_veth(int i) const { return "pn" + spec_.cid + "n" + std::to_string(i); }
  IpPrefix node_ip(int i) const;  // 192.168.X.(10+i)/24
  std::string node_dir(int i) const { return spec_.state_dir + "/nodes/" + node_name(i); }
  std::string node_kubeconfig(int i) const { return node_dir(i) + "/kubeconfig"; }
  // The agent's --run-dir: the node's ephemeral runtime state (IPAM leases, CNI state, pods' mount
  // namespaces and resolver files) on a tmpfs the agent mounts there; gone after a reboot, and
  // unmounted by `down` with everything below the state dir. Pod records and logs stay on disk in
  // node_dir(i)/pods.
  std::string node_run_dir(int i) const { return node_dir(i) + "/run"; }

  std::string record_path() const { return spec_.state_dir + "/cluster.json"; }
  std::string server_dir() const { return spec_.state_dir + "/server"; }
  std::string admin_kubeconfig() const { return server_dir() + "/admin.kubeconfig"; }
  std::string server_url() const;
  std::string logs_dir() const { return spec_.state_dir + "/logs"; }
  std::string pids_dir() const { return spec_.state_dir + "/pids"; }
  // Daemon names: "server", "agent-node1", ...
  static std::string agent_daemon(const std::string& node) { return "agent-" + node; }
  std::string log_path(const std::string& daemon) const { return logs_dir() + "/" + daemon + ".log"; }
  std::string pid_path(const std::string& daemon) const { return pids_dir() + "/" + daemon + ".pid"; }
  std::vector<std::string> daemons() const;  // server first, then the agents (none with --no-agents)
  // Each daemon runs under its own `podnet supervise`: that process's pid file, and the report it
  // keeps of the daemon (state, restarts, last exit) for `status` and `up`.
  std::string supervise_dir() const { return spec_.state_dir + "/supervise"; }
  std::string supervisor_pid_path(const std::string& daemon) const {
    return supervise_dir() + "/" + daemon + ".pid";
  }
  std::string supervisor_report_path(const std::string& daemon) const {
    return supervise_dir() + "/" + daemon + ".json";
  }

 private:
  ClusterSpec spec_;
};

// STATE/cluster.json.
std::string to_json(const ClusterSpec& spec);
Result<ClusterSpec> spec_from_json(std::string_view text);

// Publishes STATE/cluster.json only if none exists yet (EEXIST otherwise), so two `up` runs on one
// state dir cannot both proceed.
Status write_record_exclusive(const Layout& layout);
// The record in `state_dir`; nullopt when there is none.
Result<std::optional<ClusterSpec>> load_record(const std::string& state_dir);

// True when the two prefixes share an address (same family only).
bool overlaps(const IpPrefix& a, const IpPrefix& b);

}  // namespace podnet::cluster
