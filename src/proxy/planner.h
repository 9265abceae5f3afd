// The pure half of the proxy: from a Service, its EndpointSlices and this node, compute which
// frontends exist and which endpoints serve each (kube-proxy's rules). No kernel, no clock.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/ip.h"
#include "k8s/model.h"
#include "proxy/types.h"

namespace podnet::proxy {

struct NodeInfo {
  std::string name;                  // matches EndpointSlice endpoints[].nodeName
  std::vector<IpAddress> addresses;  // NodePorts listen here
};

// What the proxy keeps of an EndpointSlice: ~20 bytes per endpoint instead of ~150, which is most
// of the proxy's memory at a million endpoints.
struct EndpointInfo {
  Ip addr;  // the first address; kube-proxy uses only that one too
  bool ready = true, serving = true, terminating = false;
  bool local = false;  // runs on this node
};
struct SliceInfo {
  std::optional<Family> family;  // none for FQDN slices, which the proxy ignores
  std::vector<EndpointInfo> endpoints;
  std::vector<k8s::EndpointPort> ports;
};
SliceInfo summarize_slice(const k8s::EndpointSlice& slice, const std::string& node_name);

// Endpoints of one service port in one family, as kube-proxy picks them: ready ones, or when none
// is ready the serving-and-terminating ones; only this node's when `local_only`.
std::vector<Backend> select_backends(const k8s::ServicePort& port, Family family,
                                     std::span<const SliceInfo* const> slices, bool local_only);

ServicePlan plan_service(const k8s::Service& service, std::span<const SliceInfo* const> slices,
                         const NodeInfo& node);
// The same from whole EndpointSlices (tests, one-off callers).
ServicePlan plan_service(const k8s::Service& service, std::span<const k8s::EndpointSlice* const> slices,
                         const NodeInfo& node);

}  // namespace podnet::proxy
