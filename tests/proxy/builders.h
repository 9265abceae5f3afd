// Compact builders for Services and EndpointSlices in proxy tests (what the API would send).
#pragma once

#include <initializer_list>
#include <string>

#include "k8s/model.h"

namespace podnet::proxy::testing {

inline IpAddress ip(const char* s) {
  return *parse_ip(s);
}

inline k8s::Service cluster_ip_service(const std::string& name, const char* vip,
                                       std::initializer_list<k8s::ServicePort> ports) {
  k8s::Service s;
  s.meta.name = name;
  s.meta.namespace_ = "default";
  s.cluster_ips = {ip(vip)};
  s.ports = ports;
  return s;
}

inline k8s::ServicePort tcp_port(const std::string& name, int32_t port, k8s::IntOrString target,
                                 int32_t node_port = 0) {
  return {name, k8s::Protocol::kTcp, port, std::move(target), node_port};
}

struct Ep {
  const char* addr;
  bool ready = true;
  bool serving = true;
  bool terminating = false;
  const char* node = "node-a";
};

inline k8s::EndpointSlice slice(const std::string& service, std::initializer_list<Ep> eps,
                                std::initializer_list<k8s::EndpointPort> ports,
                                k8s::AddressType type = k8s::AddressType::kIPv4) {
  k8s::EndpointSlice s;
  s.meta.name = service + "-slice";
  s.meta.namespace_ = "default";
  s.meta.labels[k8s::kServiceNameLabel] = service;
  s.address_type = type;
  for (const auto& e : eps) {
    k8s::Endpoint ep;
    ep.addresses = {e.addr};
    ep.conditions = {e.ready, e.serving, e.terminating};
    ep.node_name = e.node;
    s.endpoints.push_back(ep);
  }
  s.ports = ports;
  return s;
}

inline k8s::EndpointPort slice_port(const std::string& name, int32_t port,
                                    k8s::Protocol proto = k8s::Protocol::kTcp) {
  return {name, proto, port};
}

}  // namespace podnet::proxy::testing
