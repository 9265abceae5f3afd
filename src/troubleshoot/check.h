// `podnet check`: a connectivity self-test of the whole model on a running cluster. Through the
// API only (src/client): its own namespace, a server pod, a client pod and a hostNetwork probe pod
// on every node, Services (ClusterIP, LoadBalancer, NodePort with externalTrafficPolicy Local) and
// a NetworkPolicy; the probes' results come back through the pods' logs, this machine probes what
// is reachable from outside. Everything it made is deleted at the end, also on SIGINT/SIGTERM.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace podnet::troubleshoot {

struct CheckOptions {
  std::string kubeconfig;        // empty: $KUBECONFIG, ~/.kube/config, then podnet up's admin.kubeconfig
  std::string output = "table";  // or "json"
  std::string image;             // empty: no image pulled; the pods run this very podnet binary (podnet up)
  std::string cluster_domain = "cluster.local";
  int timeout_seconds = 60;  // for the pods to start and report
  bool progress = true;      // the progress line on stderr
  // Run by /bin/sh once the server pods are Ready, before the client pods are made: the fault
  // tests break one thing here (after freezing the agent that would repair it). Not for users.
  std::string before_clients;
};

// 0: every path passed (skips allowed); 1: a path failed; 2: the check could not run; 130: interrupted.
int run_check(const CheckOptions& opts);

// $KUBECONFIG's first file, ~/.kube/config, then podnet up's admin.kubeconfig.
std::string default_kubeconfig();

// `podnet check-agent serve|probe` (what the check's pods run).
int check_agent_serve(const std::string& name, const std::string& bind, const std::vector<uint16_t>& ports);

}  // namespace podnet::troubleshoot
