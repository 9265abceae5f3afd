// The subset of the Kubernetes object model the service proxy reads: Service and EndpointSlice
// (discovery.k8s.io/v1). Plain data, already validated by decode.h; no API machinery here.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "common/ip.h"

namespace podnet::k8s {

struct ObjectMeta {
  std::string name;
  std::string namespace_;  // "namespace" is a keyword
  std::string resource_version;
  std::map<std::string, std::string> labels;
};

enum class Protocol { kTcp, kUdp, kSctp };
// IANA protocol numbers, as nftables' `meta l4proto` sees them.
constexpr uint8_t ip_proto_number(Protocol p) {
  return p == Protocol::kTcp ? 6 : p == Protocol::kUdp ? 17 : 132;
}
const char* protocol_name(Protocol p);  // "TCP", "UDP", "SCTP"

// A Service port's targetPort: a number, or the name of a container port that each endpoint
// resolves on its own (EndpointSlice ports then carry the number).
using IntOrString = std::variant<int32_t, std::string>;

struct ServicePort {
  std::string name;
  Protocol protocol = Protocol::kTcp;
  int32_t port = 0;
  IntOrString target_port = int32_t{0};  // 0 when unset: the API server defaults it to `port`
  int32_t node_port = 0;                 // 0 when none
};

enum class ServiceType { kClusterIP, kNodePort, kLoadBalancer, kExternalName };
enum class TrafficPolicy { kCluster, kLocal };
enum class IpFamily { kIPv4, kIPv6 };

struct Service {
  ObjectMeta meta;
  ServiceType type = ServiceType::kClusterIP;
  bool headless = false;               // clusterIP "None": no virtual IP to program
  std::vector<IpAddress> cluster_ips;  // spec.clusterIPs (falls back to spec.clusterIP)
  std::vector<ServicePort> ports;
  bool affinity_client_ip = false;           // sessionAffinity: ClientIP
  int32_t affinity_timeout_seconds = 10800;  // sessionAffinityConfig.clientIP.timeoutSeconds
  std::vector<IpAddress> external_ips;
  TrafficPolicy external_traffic_policy = TrafficPolicy::kCluster;
  TrafficPolicy internal_traffic_policy = TrafficPolicy::kCluster;
  int32_t health_check_node_port = 0;
  std::vector<IpFamily> ip_families;
  std::vector<IpAddress> load_balancer_ips;  // status.loadBalancer.ingress[].ip
  std::string external_name;                 // spec.externalName (type ExternalName)
  bool publish_not_ready_addresses = false;  // spec.publishNotReadyAddresses (DNS of headless services)
};

struct EndpointConditions {
  // Unset means "unknown"; the API says consumers treat unknown ready/serving as true and unknown
  // terminating as false.
  std::optional<bool> ready, serving, terminating;
  bool is_ready() const { return ready.value_or(true); }
  bool is_serving() const { return serving.value_or(is_ready()); }
  bool is_terminating() const { return terminating.value_or(false); }
};

struct Endpoint {
  std::vector<std::string> addresses;  // kept as text: FQDN slices carry names
  EndpointConditions conditions;
  std::string node_name;  // empty when unset
  std::string zone;
  std::string hostname;  // the pod's spec.hostname for a headless service's subdomain; empty when unset
};

struct EndpointPort {
  std::string name;  // empty when unset; matches ServicePort::name
  Protocol protocol = Protocol::kTcp;
  std::optional<int32_t> port;  // unset means "all ports" and is of no use to a proxy
};

enum class AddressType { kIPv4, kIPv6, kFQDN };

inline constexpr const char* kServiceNameLabel = "kubernetes.io/service-name";
inline constexpr const char* kLastChangeTriggerTime = "endpoints.kubernetes.io/last-change-trigger-time";

struct EndpointSlice {
  ObjectMeta meta;
  AddressType address_type = AddressType::kIPv4;
  std::vector<Endpoint> endpoints;
  std::vector<EndpointPort> ports;
  // The kLastChangeTriggerTime annotation (RFC 3339): when the change this slice reflects began
  // (a pod became ready...). Empty when absent.
  std::string last_change_trigger_time;

  // The owning Service's name (from the kubernetes.io/service-name label), empty when absent.
  std::string service_name() const {
    auto it = meta.labels.find(kServiceNameLabel);
    return it == meta.labels.end() ? std::string() : it->second;
  }
};

}  // namespace podnet::k8s
