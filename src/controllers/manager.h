// The controllers `podnet server` runs in its own process: shared caches of nodes, pods, services
// and endpointslices over one k8s::ApiClient (client/cache.h), the node IPAM, EndpointSlice, LoadBalancer IP,
// scheduler, node lifecycle, pod GC and `default/kubernetes` Service controllers on them, started after the
// caches have their first list. The composition root (cli/server.cpp) starts it after the API server serves.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "common/error.h"
#include "controllers/kubernetes_service.h"
#include "controllers/objects.h"
#include "controllers/work_queue.h"

namespace podnet::controllers {

struct ControllerOptions {
  std::string cluster_cidr = "10.244.0.0/16";  // empty: no node IPAM
  int node_cidr_mask = 24;
  std::string lb_pool;  // empty: LoadBalancer services get no address
  Clock clock;          // empty: the system clock. It must advance: retry backoffs are measured on it
  // A node without a new heartbeat for this long goes Unknown (kube: --node-monitor-grace-period).
  std::chrono::milliseconds node_monitor_grace_period{40000};
  // How long a node must be missing before its pods are deleted (kube: a fixed 40 s; see pod_gc.h).
  std::chrono::milliseconds pod_gc_quarantine{5000};
  // The `default/kubernetes` Service and its EndpointSlice, kept as kube-apiserver keeps them; none
  // when unset.
  std::optional<KubernetesServiceConfig> kubernetes_service;
};

class ControllerManager {
 public:
  // `api` reads and writes every kind the controllers use (nodes, pods, services, endpointslices,
  // events) and must outlive the manager; the composition root passes the API server's in-process
  // client acting as the controller identity (ApiServer::client(controller_identity())).
  static Result<std::unique_ptr<ControllerManager>> start(k8s::ApiClient& api, ControllerOptions options);
  // Returns at once: the caches list (retrying with backoff while that fails) and the controllers
  // start once every cache has its first list. Stops the controllers, then the caches; nothing
  // runs after the destructor returns.
  ~ControllerManager();
  // True once the controllers run (/readyz reports "[-]controllers failed" until then).
  bool synced() const;
  // synced() as a check that stays valid after the manager is gone (then it reports its last state).
  std::function<bool()> readiness_check() const;

  struct Parts;

 private:
  explicit ControllerManager(std::unique_ptr<Parts> parts);
  std::unique_ptr<Parts> parts_;
};

}  // namespace podnet::controllers
