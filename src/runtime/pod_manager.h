// The node agent's kubelet role: runs the pods bound to this node as processes. It watches the
// node's pods through PodApi, gives each pod a network namespace wired by the CNI plugin, starts
// its containers (container_process.h), probes them, restarts them per restartPolicy, writes pod
// status, terminates gracefully on deletion and serves container logs on the kubelet port.
// State lives in <state_dir>/pods/<uid>/, so a restarted manager re-adopts running containers.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "common/error.h"
#include "runtime/log_server.h"
#include "runtime/pod_api.h"
#include "runtime/service_env.h"

namespace podnet::runtime {

struct PodManagerOptions {
  std::string node_name;
  std::string node_ip;    // status.hostIP, the podIP of hostNetwork pods, the log server's address
  std::string state_dir;  // pods under <state_dir>/pods/<uid>/
  std::string cni_bin;    // the podnet-cni binary; other plugin types are looked up beside it
  std::string shim_bin;   // podnet-shim (shim.h); empty: the one beside cni_bin
  std::string cni_conf;   // a .conflist/.conf file, or a directory holding one
  // Pod netns name = netns_prefix + the first 8 hex digits of the pod UID (CONTRACTS.md).
  std::string netns_prefix = "pn-";
  // The node's network namespace (a path); empty: the caller's. CNI plugins, hostNetwork pods,
  // tcp/http probes and the log server live there.
  std::string node_netns;
  std::string log_address;    // empty: node_ip
  uint16_t log_port = 10250;  // 0: any free port
  LogServerTls log_tls;       // the log server's certificate and who may read (log_server.h)
  ExecOptions streaming;      // exec, attach, port-forward and proxy sessions: the idle timeout
  NodeApiHandler node_api;    // the agent's node API on the same port (none: 404 as any path)
  // Pod DNS as kubelet's --cluster-dns, --cluster-domain and --resolv-conf (pod_dns.h). No cluster DNS:
  // ClusterFirst pods get the node's resolver (kubelet's MissingClusterDNS fallback).
  std::vector<std::string> cluster_dns;
  std::string cluster_domain = "cluster.local";
  std::string resolv_conf = "/etc/resolv.conf";  // the node's, the base of Default and ClusterFirst
  std::string hosts_file = "/etc/hosts";         // the node's, what hostNetwork pods see
  // Where pod mount namespaces are bound (pod_mounts.h), one file per pod named like its netns.
  // Empty: no mount namespace, pods see the node's own /etc/resolv.conf and /etc/hosts (what
  // pod_start_bench --no-pod-mounts measures against).
  std::string mntns_dir = "/run/podnet/mntns";
  // The node's ephemeral runtime state, on a tmpfs (ensure_tmpfs): pods' resolver files under
  // <run_dir>/pods/<uid>/ (PodStateStore). Empty: under state_dir.
  std::string run_dir;
  // The node's Services (its informer's), for the service environment variables; empty: only the
  // variables of the pod itself (kubelet without a master).
  ServiceLister services;
  // Called when a pod's sandbox has its addresses, before its first container starts, with the
  // pod's API object and addresses: the agent hands the pod to its NetworkPolicy enforcer and
  // returns once the pod's rules are in the kernel, so its first packet meets its policy. An error
  // is logged and the pod starts anyway (its address stays pending: dropped). Empty: none.
  std::function<Status(const boost::json::value& pod, const std::vector<std::string>& ips)> network_admit;
  // Crash-loop backoff: the first restart is immediate, then initial, doubling up to max.
  std::chrono::milliseconds restart_backoff{10000}, max_restart_backoff{300000};
};

class PodManager {
 public:
  // Starts the log server and the pod informer; returns once both run (pods come up async).
  static Result<std::unique_ptr<PodManager>> start(PodManagerOptions options, PodApi& api);
  // Stops watching and probing; containers keep running (an agent restart re-adopts them).
  ~PodManager();

  uint16_t log_port() const;
  // Pods this manager currently runs (for status pages and tests).
  size_t pod_count() const;
  // The network namespace of a pod running here on its own network ("/proc/PID/ns/net" of a
  // running container), for `podnet trace --live`'s probe; nullopt otherwise.
  std::optional<std::string> pod_netns_path(const std::string& ns, const std::string& pod) const;

  struct Impl;

 private:
  explicit PodManager(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace podnet::runtime
