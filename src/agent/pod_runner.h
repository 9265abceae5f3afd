// The seam for the agent's kubelet role (`--run-pods`): the agent builds one PodRunner once its
// pod range and CNI config exist, runs it on a thread of its own and stops it on shutdown. The
// runner (src/runtime) is wired in by whoever builds the binary; the agent does not depend on it.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/error.h"
#include "common/ip.h"
#include "k8s/api_client.h"
#include "k8s/model.h"

namespace podnet::agent {

class FlowLog;

struct PodRunnerContext {
  k8s::ApiClient& api;
  std::string node_name;
  IpAddress node_ip;
  std::string state_dir;      // pods go under <state-dir>/pods/<uid>/
  std::string cni_bin;        // podnet-cni
  std::string cni_conf_path;  // <state-dir>/cni/10-podnet.conflist, already written
  IpPrefix pod_cidr;
  // Pod DNS, as kubelet's --cluster-dns and --cluster-domain (AgentOptions).
  std::vector<IpAddress> cluster_dns;
  std::string cluster_domain;
  // The Services the agent's informer holds in a namespace, plus default/kubernetes (for the
  // service environment variables). Complete: the runner is built after the first full list.
  std::function<std::vector<k8s::Service>(const std::string& ns)> services;
  // NetworkPolicy on (AgentOptions::network_policy): before a pod's first container starts, hand
  // the pod (API object, addresses from CNI ADD) to the node's enforcer and wait until its rules
  // are in the kernel (runtime::PodManagerOptions::network_admit). Empty: policy is off.
  std::function<Status(const boost::json::value& pod, const std::vector<std::string>& ips)> admit_pod;
  // The node's flow log (flows.h), for the node API's `flows` (`podnet flows`).
  std::shared_ptr<const FlowLog> flows;
  // NetworkPolicy on: the node API's `policy` answer (NodeApiConfig::policy_counters). Empty: off.
  std::function<Result<std::string>(std::string_view ns, std::string_view name)> policy_counters;
  // The node's ephemeral runtime state on a tmpfs (AgentOptions::run_dir); empty: under state_dir.
  std::string run_dir;
};

class PodRunner {
 public:
  virtual ~PodRunner() = default;
  virtual void run() = 0;   // until stop()
  virtual void stop() = 0;  // thread-safe
};

using PodRunnerFactory = std::function<Result<std::unique_ptr<PodRunner>>(const PodRunnerContext&)>;

}  // namespace podnet::agent
