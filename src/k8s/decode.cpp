// Decoding of Service and EndpointSlice JSON into the model of model.h.
// Unknown fields are ignored (the API grows); wrong types and bad values are errors naming the field.
#include "k8s/decode.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <limits>

#include "k8s/json_fields.h"

namespace podnet::k8s {
namespace json = boost::json;
namespace {

using fields::array_at;
using fields::field_error;
using fields::member;
using fields::object_at;
using fields::string_at;

Result<std::optional<int32_t>> int_at(const json::object& o, std::string_view key, const std::string& path) {
  const json::value* v = member(o, key);
  if (!v) return std::optional<int32_t>();
  if (!v->is_int64() && !v->is_uint64()) return field_error(path, "expected an integer");
  auto n = v->is_int64() ? v->get_int64() : static_cast<int64_t>(v->get_uint64());
  if (n < std::numeric_limits<int32_t>::min() || n > std::numeric_limits<int32_t>::max())
    return field_error(path, "integer out of range");
  return std::optional<int32_t>(static_cast<int32_t>(n));
}

Result<std::optional<bool>> bool_at(const json::object& o, std::string_view key, const std::string& path) {
  const json::value* v = member(o, key);
  if (!v) return std::optional<bool>();
  if (!v->is_bool()) return field_error(path, "expected a boolean");
  return std::optional<bool>(v->get_bool());
}

Result<std::vector<std::string>> strings_at(const json::object& o, std::string_view key,
                                            const std::string& path) {
  PODNET_TRY(arr, array_at(o, key, path));
  std::vector<std::string> out;
  if (!arr) return out;
  for (size_t i = 0; i < arr->size(); ++i) {
    if (!(*arr)[i].is_string()) return field_error(path + "[" + std::to_string(i) + "]", "expected a string");
    out.emplace_back((*arr)[i].get_string());
  }
  return out;
}

Result<std::vector<IpAddress>> ips_at(const json::object& o, std::string_view key, const std::string& path) {
  PODNET_TRY(texts, strings_at(o, key, path));
  std::vector<IpAddress> out;
  for (size_t i = 0; i < texts.size(); ++i) {
    auto ip = parse_ip(texts[i]);
    if (!ip) return field_error(path + "[" + std::to_string(i) + "]", "invalid IP \"" + texts[i] + "\"");
    out.push_back(*ip);
  }
  return out;
}

Result<int32_t> port_at(const json::object& o, std::string_view key, const std::string& path, bool required) {
  PODNET_TRY(n, int_at(o, key, path));
  if (!n) {
    if (required) return field_error(path, "required");
    return 0;
  }
  if (*n < 0 || *n > 65535 || (required && *n == 0)) return field_error(path, "port out of range");
  return *n;
}

Result<Protocol> protocol_at(const json::object& o, const std::string& path) {
  PODNET_TRY(text, string_at(o, "protocol", path));
  if (text.empty() || text == "TCP") return Protocol::kTcp;  // the API's default
  if (text == "UDP") return Protocol::kUdp;
  if (text == "SCTP") return Protocol::kSctp;
  return field_error(path, "unknown protocol \"" + text + "\"");
}

Result<TrafficPolicy> policy_at(const json::object& o, std::string_view key, const std::string& path) {
  PODNET_TRY(text, string_at(o, key, path));
  if (text.empty() || text == "Cluster") return TrafficPolicy::kCluster;
  if (text == "Local") return TrafficPolicy::kLocal;
  return field_error(path, "unknown traffic policy \"" + text + "\"");
}

Result<ObjectMeta> decode_meta(const json::object& obj) {
  PODNET_TRY(meta, object_at(obj, "metadata", "metadata"));
  if (!meta) return field_error("metadata", "required");
  ObjectMeta out;
  PODNET_TRY(name, string_at(*meta, "name", "metadata.name"));
  if (name.empty()) return field_error("metadata.name", "required");
  out.name = std::move(name);
  PODNET_TRY(ns, string_at(*meta, "namespace", "metadata.namespace"));
  out.namespace_ = ns.empty() ? "default" : std::move(ns);
  PODNET_TRY(rv, string_at(*meta, "resourceVersion", "metadata.resourceVersion"));
  out.resource_version = std::move(rv);
  PODNET_TRY(labels, object_at(*meta, "labels", "metadata.labels"));
  if (labels) {
    for (const auto& [k, v] : *labels) {
      if (!v.is_string()) return field_error("metadata.labels." + std::string(k), "expected a string");
      out.labels.emplace(std::string(k), std::string(v.get_string()));
    }
  }
  return out;
}

Result<const json::object*> expect_kind(const json::value& v, std::string_view kind) {
  if (!v.is_object()) return fail_msg(std::string(kind) + ": expected a JSON object");
  const auto& obj = v.get_object();
  if (const json::value* k = member(obj, "kind"); k && (!k->is_string() || k->get_string() != kind))
    return fail_msg(std::string(kind) + ": object has kind " + json::serialize(*k));
  return &obj;
}

Result<ServicePort> decode_service_port(const json::object& o, const std::string& path) {
  ServicePort p;
  PODNET_TRY(name, string_at(o, "name", path + ".name"));
  p.name = std::move(name);
  PODNET_TRY(proto, protocol_at(o, path + ".protocol"));
  p.protocol = proto;
  PODNET_TRY(port, port_at(o, "port", path + ".port", true));
  p.port = port;
  PODNET_TRY(node_port, port_at(o, "nodePort", path + ".nodePort", false));
  p.node_port = node_port;
  p.target_port = port;
  if (const json::value* t = member(o, "targetPort")) {
    if (t->is_string()) {
      if (t->get_string().empty()) return field_error(path + ".targetPort", "empty name");
      p.target_port = std::string(t->get_string());
    } else {
      PODNET_TRY(n, port_at(o, "targetPort", path + ".targetPort", true));
      p.target_port = n;
    }
  }
  return p;
}

Result<Service> decode_service_object(const json::object& obj) {
  Service svc;
  PODNET_TRY(meta, decode_meta(obj));
  svc.meta = std::move(meta);
  PODNET_TRY(spec, object_at(obj, "spec", "spec"));
  if (!spec) return field_error("spec", "required");

  PODNET_TRY(type, string_at(*spec, "type", "spec.type"));
  if (type.empty() || type == "ClusterIP")
    svc.type = ServiceType::kClusterIP;
  else if (type == "NodePort")
    svc.type = ServiceType::kNodePort;
  else if (type == "LoadBalancer")
    svc.type = ServiceType::kLoadBalancer;
  else if (type == "ExternalName")
    svc.type = ServiceType::kExternalName;
  else
    return field_error("spec.type", "unknown service type \"" + type + "\"");

  // clusterIPs supersedes clusterIP (dual-stack); "None" in either makes the service headless.
  PODNET_TRY(cluster_ip, string_at(*spec, "clusterIP", "spec.clusterIP"));
  PODNET_TRY(cluster_ips, strings_at(*spec, "clusterIPs", "spec.clusterIPs"));
  if (cluster_ips.empty() && !cluster_ip.empty()) cluster_ips.push_back(cluster_ip);
  for (size_t i = 0; i < cluster_ips.size(); ++i) {
    if (cluster_ips[i] == "None") {
      svc.headless = true;
      continue;
    }
    auto ip = parse_ip(cluster_ips[i]);
    if (!ip)
      return field_error("spec.clusterIPs[" + std::to_string(i) + "]",
                         "invalid IP \"" + cluster_ips[i] + "\"");
    svc.cluster_ips.push_back(*ip);
  }

  PODNET_TRY(ports, array_at(*spec, "ports", "spec.ports"));
  if (ports) {
    for (size_t i = 0; i < ports->size(); ++i) {
      std::string path = "spec.ports[" + std::to_string(i) + "]";
      if (!(*ports)[i].is_object()) return field_error(path, "expected an object");
      PODNET_TRY(port, decode_service_port((*ports)[i].get_object(), path));
      svc.ports.push_back(std::move(port));
    }
  }

  PODNET_TRY(affinity, string_at(*spec, "sessionAffinity", "spec.sessionAffinity"));
  if (affinity == "ClientIP")
    svc.affinity_client_ip = true;
  else if (!affinity.empty() && affinity != "None")
    return field_error("spec.sessionAffinity", "unknown session affinity \"" + affinity + "\"");
  PODNET_TRY(affinity_config, object_at(*spec, "sessionAffinityConfig", "spec.sessionAffinityConfig"));
  if (affinity_config) {
    PODNET_TRY(client_ip, object_at(*affinity_config, "clientIP", "spec.sessionAffinityConfig.clientIP"));
    if (client_ip) {
      const std::string path = "spec.sessionAffinityConfig.clientIP.timeoutSeconds";
      PODNET_TRY(timeout, int_at(*client_ip, "timeoutSeconds", path));
      if (timeout && (*timeout <= 0 || *timeout > 86400)) return field_error(path, "must be in 1..86400");
      if (timeout) svc.affinity_timeout_seconds = *timeout;
    }
  }

  PODNET_TRY(external_ips, ips_at(*spec, "externalIPs", "spec.externalIPs"));
  svc.external_ips = std::move(external_ips);
  PODNET_TRY(etp, policy_at(*spec, "externalTrafficPolicy", "spec.externalTrafficPolicy"));
  svc.external_traffic_policy = etp;
  PODNET_TRY(itp, policy_at(*spec, "internalTrafficPolicy", "spec.internalTrafficPolicy"));
  svc.internal_traffic_policy = itp;
  PODNET_TRY(hc, port_at(*spec, "healthCheckNodePort", "spec.healthCheckNodePort", false));
  svc.health_check_node_port = hc;
  PODNET_TRY(families, strings_at(*spec, "ipFamilies", "spec.ipFamilies"));
  for (size_t i = 0; i < families.size(); ++i) {
    if (families[i] == "IPv4")
      svc.ip_families.push_back(IpFamily::kIPv4);
    else if (families[i] == "IPv6")
      svc.ip_families.push_back(IpFamily::kIPv6);
    else
      return field_error("spec.ipFamilies[" + std::to_string(i) + "]",
                         "unknown family \"" + families[i] + "\"");
  }

  PODNET_TRY(external_name, string_at(*spec, "externalName", "spec.externalName"));
  svc.external_name = std::move(external_name);
  PODNET_TRY(publish, bool_at(*spec, "publishNotReadyAddresses", "spec.publishNotReadyAddresses"));
  svc.publish_not_ready_addresses = publish.value_or(false);

  PODNET_TRY(status, object_at(obj, "status", "status"));
  if (status) {
    PODNET_TRY(lb, object_at(*status, "loadBalancer", "status.loadBalancer"));
    if (lb) {
      PODNET_TRY(ingress, array_at(*lb, "ingress", "status.loadBalancer.ingress"));
      for (size_t i = 0; ingress && i < ingress->size(); ++i) {
        std::string path = "status.loadBalancer.ingress[" + std::to_string(i) + "]";
        if (!(*ingress)[i].is_object()) return field_error(path, "expected an object");
        PODNET_TRY(ip_text, string_at((*ingress)[i].get_object(), "ip", path + ".ip"));
        if (ip_text.empty()) continue;  // hostname-only ingress: nothing for the datapath
        auto ip = parse_ip(ip_text);
        if (!ip) return field_error(path + ".ip", "invalid IP \"" + ip_text + "\"");
        svc.load_balancer_ips.push_back(*ip);
      }
    }
  }
  return svc;
}

Result<Endpoint> decode_endpoint(const json::object& o, const std::string& path) {
  Endpoint ep;
  PODNET_TRY(addresses, strings_at(o, "addresses", path + ".addresses"));
  if (addresses.empty()) return field_error(path + ".addresses", "required");
  ep.addresses = std::move(addresses);
  PODNET_TRY(conditions, object_at(o, "conditions", path + ".conditions"));
  if (conditions) {
    PODNET_TRY(ready, bool_at(*conditions, "ready", path + ".conditions.ready"));
    PODNET_TRY(serving, bool_at(*conditions, "serving", path + ".conditions.serving"));
    PODNET_TRY(terminating, bool_at(*conditions, "terminating", path + ".conditions.terminating"));
    ep.conditions = {ready, serving, terminating};
  }
  PODNET_TRY(node, string_at(o, "nodeName", path + ".nodeName"));
  ep.node_name = std::move(node);
  PODNET_TRY(zone, string_at(o, "zone", path + ".zone"));
  ep.zone = std::move(zone);
  PODNET_TRY(hostname, string_at(o, "hostname", path + ".hostname"));
  ep.hostname = std::move(hostname);
  return ep;
}

Result<EndpointSlice> decode_slice_object(const json::object& obj) {
  EndpointSlice slice;
  PODNET_TRY(meta, decode_meta(obj));
  slice.meta = std::move(meta);
  // Only the annotation the proxy's network programming latency needs; a malformed one is ignored.
  if (const json::value* m = member(obj, "metadata"); m && m->is_object())
    if (const json::value* a = member(m->get_object(), "annotations"); a && a->is_object())
      if (const json::value* t = member(a->get_object(), kLastChangeTriggerTime); t && t->is_string())
        slice.last_change_trigger_time = std::string(t->get_string());
  PODNET_TRY(type, string_at(obj, "addressType", "addressType"));
  if (type == "IPv4")
    slice.address_type = AddressType::kIPv4;
  else if (type == "IPv6")
    slice.address_type = AddressType::kIPv6;
  else if (type == "FQDN")
    slice.address_type = AddressType::kFQDN;
  else if (type.empty())
    return field_error("addressType", "required");
  else
    return field_error("addressType", "unknown address type \"" + type + "\"");

  PODNET_TRY(endpoints, array_at(obj, "endpoints", "endpoints"));
  for (size_t i = 0; endpoints && i < endpoints->size(); ++i) {
    std::string path = "endpoints[" + std::to_string(i) + "]";
    if (!(*endpoints)[i].is_object()) return field_error(path, "expected an object");
    PODNET_TRY(ep, decode_endpoint((*endpoints)[i].get_object(), path));
    if (slice.address_type != AddressType::kFQDN) {
      for (size_t a = 0; a < ep.addresses.size(); ++a) {
        auto ip = parse_ip(ep.addresses[a]);
        bool family_ok = ip && (ip->is_v4() == (slice.address_type == AddressType::kIPv4));
        if (!family_ok)
          return field_error(path + ".addresses[" + std::to_string(a) + "]",
                             "not an address of the slice's addressType: \"" + ep.addresses[a] + "\"");
      }
    }
    slice.endpoints.push_back(std::move(ep));
  }

  PODNET_TRY(ports, array_at(obj, "ports", "ports"));
  for (size_t i = 0; ports && i < ports->size(); ++i) {
    std::string path = "ports[" + std::to_string(i) + "]";
    if (!(*ports)[i].is_object()) return field_error(path, "expected an object");
    const auto& po = (*ports)[i].get_object();
    EndpointPort port;
    PODNET_TRY(name, string_at(po, "name", path + ".name"));
    port.name = std::move(name);
    PODNET_TRY(proto, protocol_at(po, path + ".protocol"));
    port.protocol = proto;
    PODNET_TRY(number, int_at(po, "port", path + ".port"));
    if (number && (*number <= 0 || *number > 65535)) return field_error(path + ".port", "port out of range");
    port.port = number;
    slice.ports.push_back(std::move(port));
  }
  return slice;
}

// Names the object in the error once it is known: "Service default/web: spec.ports[0].port: required".
template <class T>
Result<T> named(Result<T> r, std::string_view kind, const json::value& v) {
  if (r) return r;
  std::string who(kind);
  if (v.is_object()) {
    if (const json::value* m = member(v.get_object(), "metadata"); m && m->is_object()) {
      const auto& mo = m->get_object();
      auto ns = mo.find("namespace"), name = mo.find("name");
      if (name != mo.end() && name->value().is_string()) {
        who += " ";
        bool has_ns = ns != mo.end() && ns->value().is_string();
        who += (has_ns ? std::string(ns->value().get_string()) : std::string("default")) + "/";
        who += std::string(name->value().get_string());
      }
    }
  }
  return std::unexpected(wrap(std::move(r.error()), who));
}

Result<json::value> parse_text(std::string_view text, std::string_view kind) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) return fail_msg(std::string(kind) + ": invalid JSON: " + ec.message());
  return v;
}

}  // namespace

const char* protocol_name(Protocol p) {
  return p == Protocol::kTcp ? "TCP" : p == Protocol::kUdp ? "UDP" : "SCTP";
}

Result<Service> decode_service(const json::value& v) {
  auto obj = expect_kind(v, "Service");
  if (!obj) return std::unexpected(obj.error());
  return named(decode_service_object(**obj), "Service", v);
}

Result<Service> decode_service(std::string_view text) {
  PODNET_TRY(v, parse_text(text, "Service"));
  return decode_service(v);
}

Result<EndpointSlice> decode_endpoint_slice(const json::value& v) {
  auto obj = expect_kind(v, "EndpointSlice");
  if (!obj) return std::unexpected(obj.error());
  return named(decode_slice_object(**obj), "EndpointSlice", v);
}

Result<EndpointSlice> decode_endpoint_slice(std::string_view text) {
  PODNET_TRY(v, parse_text(text, "EndpointSlice"));
  return decode_endpoint_slice(v);
}

}  // namespace podnet::k8s
