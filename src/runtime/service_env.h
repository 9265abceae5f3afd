// The service environment variables kubelet gives every container (kubelet's getServiceEnvVarMap
// and envvars.FromServices): <SVC>_SERVICE_HOST/_PORT[_<PORT NAME>] and the Docker-link style
// <SVC>_PORT, <SVC>_PORT_<port>_<PROTO>[_PROTO|_PORT|_ADDR]. Pure: the Services come from the
// node's Service informer (ServiceLister), never from a list/watch of its own.
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "k8s/model.h"

namespace podnet::runtime {

// The Services the node knows (its informer's) that a pod of `pod_namespace` may see: those of that
// namespace and default/kubernetes (more is harmless). Kubelet waits for its Service informer's
// first list before it builds an environment: the agent starts its pod runner only after that
// list, so the answer is whole.
using ServiceLister = std::function<std::vector<k8s::Service>(const std::string& pod_namespace)>;

// The variables for a container of a pod in `pod_namespace`, in kubelet's order per Service
// (Services sorted by name, so the result is stable): default/kubernetes always (a Service named
// "kubernetes" in the pod's own namespace takes its place when links are on, as in kubelet), and
// with `enable_service_links` every Service of the pod's namespace that has a ClusterIP.
std::vector<std::pair<std::string, std::string>> service_env(const std::vector<k8s::Service>& services,
                                                             const std::string& pod_namespace,
                                                             bool enable_service_links);

}  // namespace podnet::runtime
