// The `default/kubernetes` Service and its EndpointSlice, as kube-apiserver's bootstrap controller
// (controlplane/controller/kubernetesservice) and endpoint reconciler keep them: ClusterIP the first
// address of the service range, port "https" 443 -> the API server's port, no selector, and a slice
// (label kubernetes.io/service-name=kubernetes) whose endpoints are the server's advertised
// addresses. Created at start and repaired whenever either object is deleted or changed.
#pragma once

#include <boost/json/value.hpp>
#include <string>
#include <vector>

#include "common/error.h"
#include "controllers/controller.h"
#include "controllers/objects.h"

namespace podnet::controllers {

struct KubernetesServiceConfig {
  std::string cluster_ip;                  // e.g. 10.96.0.1
  int port = 6443;                         // the API server's secure port (the slice's and targetPort)
  std::vector<std::string> advertise_ips;  // one address family; empty: the slice has no endpoints
};

// The first address of the service range (its network address + 1): kube's kubernetes ClusterIP.
Result<std::string> first_service_ip(const std::string& service_cidr);

// What the controller writes, exposed for tests and for the repair comparison.
boost::json::value desired_kubernetes_service(const KubernetesServiceConfig& config);
boost::json::value desired_kubernetes_slice(const KubernetesServiceConfig& config);

class KubernetesServiceController final : public Controller {
 public:
  KubernetesServiceController(Cache& services, Cache& slices, KubernetesServiceConfig config, Clock clock);
  ~KubernetesServiceController() override { stop(); }

 protected:
  void resync() override;
  Outcome reconcile(const std::string& key) override;

 private:
  Outcome reconcile_service();
  Outcome reconcile_slice();

  Cache& services_;
  Cache& slices_;
  KubernetesServiceConfig config_;
};

}  // namespace podnet::controllers
