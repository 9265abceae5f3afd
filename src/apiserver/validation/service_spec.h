// Read access to a Service's JSON spec in kube's terms (type predicates, clusterIPs, ports), shared by
// the Service defaults/validation and the allocators so both read the same fields the same way.
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace podnet::apiserver::svc {

namespace json = boost::json;

inline std::optional<int64_t> as_int(const json::value* v) {
  if (!v) return std::nullopt;
  if (v->is_int64()) return v->get_int64();
  if (v->is_uint64() && v->get_uint64() <= static_cast<uint64_t>(INT64_MAX))
    return static_cast<int64_t>(v->get_uint64());
  if (v->is_double() && v->get_double() == static_cast<double>(static_cast<int64_t>(v->get_double())))
    return static_cast<int64_t>(v->get_double());
  return std::nullopt;
}

inline std::string str(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

inline int64_t integer(const json::object& o, std::string_view key) {
  return as_int(o.if_contains(key)).value_or(0);
}

inline const json::object* object(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v ? v->if_object() : nullptr;
}

inline const json::array* array(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v ? v->if_array() : nullptr;
}

inline std::vector<std::string> strings(const json::object& o, std::string_view key) {
  std::vector<std::string> out;
  if (const json::array* a = array(o, key))
    for (const auto& v : *a) out.push_back(v.is_string() ? std::string(v.get_string()) : std::string());
  return out;
}

inline void set_strings(json::object& o, std::string_view key, const std::vector<std::string>& values) {
  if (values.empty()) {
    o.erase(key);
    return;
  }
  json::array a;
  for (const auto& v : values) a.emplace_back(v);
  o[key] = std::move(a);
}

// The spec object (empty when absent).
inline const json::object& spec_of(const json::object& svc) {
  static const json::object kEmpty;
  const json::object* s = object(svc, "spec");
  return s ? *s : kEmpty;
}
inline json::object& mutable_spec(json::object& svc) {
  json::value& s = svc["spec"];
  if (!s.is_object()) s = json::object{};
  return s.get_object();
}

inline std::string type_of(const json::object& spec) {
  return str(spec, "type");
}
inline bool is_headless(const json::object& spec) {
  auto ips = strings(spec, "clusterIPs");
  return ips.size() == 1 && ips[0] == "None";
}
inline bool needs_cluster_ip(const json::object& spec) {
  return type_of(spec) != "ExternalName";
}
inline bool needs_node_port(const json::object& spec) {
  std::string t = type_of(spec);
  return t == "NodePort" || t == "LoadBalancer";
}
// NodePort services always get node ports; LoadBalancer ones unless allocateLoadBalancerNodePorts
// is false.
inline bool should_allocate_node_ports(const json::object& spec) {
  std::string t = type_of(spec);
  if (t == "NodePort") return true;
  if (t != "LoadBalancer") return false;
  const json::value* v = spec.if_contains("allocateLoadBalancerNodePorts");
  return !(v && v->is_bool() && !v->get_bool());
}
inline bool externally_accessible(const json::object& spec) {
  std::string t = type_of(spec);
  const json::array* ext = array(spec, "externalIPs");
  return t == "LoadBalancer" || t == "NodePort" || (t == "ClusterIP" && ext && !ext->empty());
}
inline bool needs_health_check(const json::object& spec) {
  return type_of(spec) == "LoadBalancer" && str(spec, "externalTrafficPolicy") == "Local";
}

// Every nodePort of the spec's ports (0s skipped), with repeats.
inline std::vector<int> node_ports(const json::object& spec) {
  std::vector<int> out;
  if (const json::array* ports = array(spec, "ports"))
    for (const auto& p : *ports)
      if (const json::object* po = p.if_object())
        if (int64_t np = integer(*po, "nodePort"); np != 0) out.push_back(static_cast<int>(np));
  return out;
}

}  // namespace podnet::apiserver::svc
