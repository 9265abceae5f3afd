// Field paths and messages follow pkg/apis/core/validation's ValidateService word for word, since
// clients (and people) match on them; the order of checks is kube's too, so multi-cause messages
// list causes in the same order.
#include "apiserver/validation/service_validation.h"

#include <algorithm>
#include <boost/json.hpp>
#include <map>
#include <set>

#include "apiserver/validation/field_error.h"
#include "apiserver/validation/ip_validation.h"
#include "apiserver/validation/service_spec.h"
#include "apiserver/validation/validation.h"
#include "common/ip.h"

namespace podnet::apiserver {
namespace json = boost::json;
using namespace svc;

namespace {

constexpr int64_t kDefaultAffinitySeconds = 10800;
constexpr int64_t kMaxAffinitySeconds = 86400;
constexpr const char* kPortRangeMsg = "must be between 1 and 65535, inclusive";

bool absent(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return !v || v->is_null() || (v->is_string() && v->get_string().empty());
}

// A JSON value as Go prints the typed field: strings quoted, numbers bare.
std::string render(const json::value& v) {
  if (v.is_string()) return field::quote(v.get_string());
  if (v.is_null()) return "null";
  return json::serialize(v);
}

// validateServicePort's targetPort check (ValidatePortNumOrName).
void validate_port_num_or_name(const json::value* v, const std::string& path, std::vector<StatusCause>& out) {
  if (!v) return;
  if (v->is_string()) {
    std::string name(v->get_string());
    for (const auto& msg : port_name_errors(name))
      out.push_back(field::invalid(path, field::quote(name), msg));
  } else if (auto n = as_int(v)) {
    if (*n < 1 || *n > 65535) out.push_back(field::invalid(path, std::to_string(*n), kPortRangeMsg));
  } else {
    out.push_back(field::invalid(path, render(*v), "must contain an int or a string"));
  }
}

std::string go_service_port_key(const std::string& protocol, int64_t port) {
  return "core.ServicePort{Name:\"\", Protocol:" + field::quote(protocol) +
         ", AppProtocol:(*string)(nil), Port:" + std::to_string(port) +
         ", TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:\"\"}, NodePort:0}";
}

bool valid_ip(const std::string& s) {
  return !s.empty() && parse_ip(s).has_value() && s.find('/') == std::string::npos;
}

constexpr const char* kIpMsg = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)";

void validate_non_special_ip(const std::string& text, const std::string& path,
                             std::vector<StatusCause>& out) {
  auto ip = parse_ip(text);
  if (!ip) return;
  for (const auto& msg : special_ip_errors(*ip, text))
    out.push_back(field::invalid(path, field::quote(text), msg));
}

bool same(const json::object& a, const json::object& b, std::string_view key) {
  const json::value* x = a.if_contains(key);
  const json::value* y = b.if_contains(key);
  bool xa = !x || x->is_null() || (x->is_array() && x->get_array().empty());
  bool ya = !y || y->is_null() || (y->is_array() && y->get_array().empty());
  if (xa || ya) return xa == ya;
  return *x == *y;
}

// ValidateServiceClusterIPsRelatedFields.
void validate_cluster_ip_fields(const json::object& spec, std::vector<StatusCause>& out) {
  if (type_of(spec) == "ExternalName") return;
  const std::string ips_path = "spec.clusterIPs";
  std::string cluster_ip = str(spec, "clusterIP");
  auto ips = strings(spec, "clusterIPs");
  std::string ips_repr = field::string_slice(ips);
  if (!cluster_ip.empty()) {
    if (ips.empty())
      out.push_back(field::required(ips_path));
    else if (ips[0] != cluster_ip)
      out.push_back(field::invalid(ips_path, ips_repr, "first value must match `clusterIP`"));
  } else if (!ips.empty()) {
    out.push_back(field::invalid(ips_path, ips_repr, "must be empty when `clusterIP` is not specified"));
  }
  auto families = strings(spec, "ipFamilies");
  std::set<std::string> seen;
  for (size_t i = 0; i < families.size(); ++i) {
    if (families[i] != "IPv4" && families[i] != "IPv6")
      out.push_back(field::not_supported(field::index("spec.ipFamilies", i), field::quote(families[i]),
                                         {"IPv4", "IPv6"}));
    if (!seen.insert(families[i]).second)
      out.push_back(field::duplicate(field::index("spec.ipFamilies", i), field::quote(families[i])));
  }
  if (!absent(spec, "ipFamilyPolicy")) {
    std::string policy = str(spec, "ipFamilyPolicy");
    if (policy != "SingleStack" && policy != "PreferDualStack" && policy != "RequireDualStack")
      out.push_back(field::not_supported("spec.ipFamilyPolicy", render(spec.at("ipFamilyPolicy")),
                                         {"PreferDualStack", "RequireDualStack", "SingleStack"}));
  }
  bool bad_ips = false;
  for (size_t i = 0; i < ips.size(); ++i) {
    if (i == 0 && ips[i] == "None") {
      if (ips.size() > 1) {
        bad_ips = true;
        out.push_back(field::invalid(ips_path, ips_repr, "'None' must be the first and only value"));
      }
      continue;
    }
    if (!valid_ip(ips[i])) {
      bad_ips = true;
      out.push_back(field::invalid(field::index(ips_path, i), field::quote(ips[i]), kIpMsg));
    }
  }
  if (ips.size() > 2) out.push_back(field::invalid(ips_path, ips_repr, "may only hold up to 2 values"));
  if (bad_ips) return;
  if (ips.size() > 1) {
    bool dual = ips.size() == 2 && parse_ip(ips[0])->is_v4() != parse_ip(ips[1])->is_v4();
    if (!dual)
      out.push_back(field::invalid(ips_path, ips_repr, "may specify no more than one IP for each IP family"));
  }
  if (!is_headless(spec)) {
    for (size_t i = 0; i < ips.size() && i < families.size(); ++i) {
      bool v6 = parse_ip(ips[i])->is_v6();
      if (families[i] == "IPv4" && v6)
        out.push_back(
            field::invalid(field::index(ips_path, i), field::quote(ips[i]),
                           "expected an IPv4 value as indicated by `ipFamilies[" + std::to_string(i) + "]`"));
      if (families[i] == "IPv6" && !v6)
        out.push_back(
            field::invalid(field::index(ips_path, i), field::quote(ips[i]),
                           "expected an IPv6 value as indicated by `ipFamilies[" + std::to_string(i) + "]`"));
    }
  }
}

// validateUpgradeDowngradeClusterIPs and the families' counterpart, reduced to what a user can hit
// with one primary family: the primary values never change.
void validate_cluster_ip_update(const json::object& old_spec, const json::object& spec,
                                std::vector<StatusCause>& out) {
  if (type_of(spec) == "ExternalName" || type_of(old_spec) == "ExternalName") return;
  bool old_headless = is_headless(old_spec), new_headless = is_headless(spec);
  auto old_ips = strings(old_spec, "clusterIPs");
  auto ips = strings(spec, "clusterIPs");
  std::string repr = field::string_slice(ips);
  if (!(old_headless && new_headless)) {
    if (old_ips.size() == ips.size()) {
      for (size_t i = 0; i < ips.size(); ++i)
        if (old_ips[i] != ips[i])
          out.push_back(field::invalid(field::index("spec.clusterIPs", i), repr, "may not change once set"));
    } else if (old_ips.size() > ips.size()) {
      if (ips.empty())
        out.push_back(field::invalid("spec.clusterIPs[0]", repr, "primary clusterIP can not be unset"));
      else if (ips[0] != old_ips[0])
        out.push_back(field::invalid("spec.clusterIPs[0]", repr, "may not change once set"));
      if (ips.size() == 1 && str(spec, "ipFamilyPolicy") != "SingleStack")
        out.push_back(field::invalid(
            "spec.ipFamilyPolicy",
            absent(spec, "ipFamilyPolicy") ? "null" : field::quote(str(spec, "ipFamilyPolicy")),
            "must be set to 'SingleStack' when releasing the secondary clusterIP"));
    } else if (!old_ips.empty() && ips[0] != old_ips[0]) {
      out.push_back(field::invalid("spec.clusterIPs[0]", repr, "may not change once set"));
    }
  }
  if (old_headless != new_headless || new_headless) return;
  auto old_families = strings(old_spec, "ipFamilies");
  auto families = strings(spec, "ipFamilies");
  std::string frepr = field::string_slice(families, "[]core.IPFamily");
  if (old_families.size() == families.size()) {
    for (size_t i = 0; i < families.size(); ++i)
      if (old_families[i] != families[i])
        out.push_back(field::invalid("spec.ipFamilies[0]", frepr, "may not change once set"));
  } else if (!old_families.empty() && !families.empty() && families[0] != old_families[0]) {
    out.push_back(field::invalid("spec.ipFamilies[0]", field::string_slice(ips), "may not change once set"));
  }
}

}  // namespace

void default_service(json::object& obj) {
  json::object& spec = mutable_spec(obj);
  if (absent(spec, "sessionAffinity")) spec["sessionAffinity"] = "None";
  std::string affinity = str(spec, "sessionAffinity");
  if (affinity == "None") spec.erase("sessionAffinityConfig");
  if (affinity == "ClientIP") {
    const json::object* config = object(spec, "sessionAffinityConfig");
    const json::object* client = config ? object(*config, "clientIP") : nullptr;
    if (!client || !client->contains("timeoutSeconds") || client->at("timeoutSeconds").is_null())
      spec["sessionAffinityConfig"] =
          json::object{{"clientIP", json::object{{"timeoutSeconds", kDefaultAffinitySeconds}}}};
  }
  if (absent(spec, "type")) spec["type"] = "ClusterIP";
  if (json::value* ports = spec.if_contains("ports"); ports && ports->is_array()) {
    for (auto& p : ports->get_array()) {
      json::object* port = p.if_object();
      if (!port) continue;
      if (absent(*port, "protocol")) (*port)["protocol"] = "TCP";
      const json::value* target = port->if_contains("targetPort");
      bool unset = !target || target->is_null() || (target->is_string() && target->get_string().empty()) ||
                   as_int(target) == 0;
      if (unset && port->contains("port")) (*port)["targetPort"] = port->at("port");
    }
  }
  if (externally_accessible(spec) && absent(spec, "externalTrafficPolicy"))
    spec["externalTrafficPolicy"] = "Cluster";
  std::string type = type_of(spec);
  if (absent(spec, "internalTrafficPolicy") &&
      (type == "NodePort" || type == "LoadBalancer" || type == "ClusterIP"))
    spec["internalTrafficPolicy"] = "Cluster";
  if (type == "LoadBalancer" && absent(spec, "allocateLoadBalancerNodePorts"))
    spec["allocateLoadBalancerNodePorts"] = true;
}

void normalize_cluster_ips(const json::object* old, json::object& obj) {
  json::object& spec = mutable_spec(obj);
  std::string ip = str(spec, "clusterIP");
  auto ips = strings(spec, "clusterIPs");
  if (!old) {
    if (!ip.empty() && ips.empty()) set_strings(spec, "clusterIPs", {ip});
    return;
  }
  const json::object& old_spec = spec_of(*old);
  std::string old_ip = str(old_spec, "clusterIP");
  auto old_ips = strings(old_spec, "clusterIPs");
  // An old client that knows only clusterIP sent the object back without clusterIPs.
  if (!old_ips.empty() && ips.empty() && old_ip == ip) {
    set_strings(spec, "clusterIPs", old_ips);
    ips = old_ips;
  }
  if (old_ip != ip) {
    if (!old_ip.empty() && ip.empty() && ips == old_ips) spec.erase("clusterIPs");
    if (!ip.empty() && ips == old_ips) set_strings(spec, "clusterIPs", {ip});
  }
}

void patch_allocated_values(const json::object& old, json::object& obj) {
  const json::object& old_spec = spec_of(old);
  json::object& spec = mutable_spec(obj);
  if (needs_cluster_ip(old_spec) && needs_cluster_ip(spec)) {
    if (str(spec, "clusterIP").empty() && !str(old_spec, "clusterIP").empty())
      spec["clusterIP"] = old_spec.at("clusterIP");
    if (strings(spec, "clusterIPs").empty() && !strings(old_spec, "clusterIPs").empty())
      spec["clusterIPs"] = old_spec.at("clusterIPs");
  }
  if (needs_node_port(old_spec) && needs_node_port(spec)) {
    auto old_ports = node_ports(old_spec), new_ports = node_ports(spec);
    std::set<int> used;
    for (int p : old_ports)
      if (std::find(new_ports.begin(), new_ports.end(), p) != new_ports.end()) used.insert(p);
    std::map<std::string, int> by_name;
    if (const json::array* ports = array(old_spec, "ports"))
      for (const auto& p : *ports)
        if (const json::object* po = p.if_object())
          by_name[str(*po, "name")] = static_cast<int>(integer(*po, "nodePort"));
    if (json::value* ports = spec.if_contains("ports"); ports && ports->is_array())
      for (auto& p : ports->get_array()) {
        json::object* po = p.if_object();
        if (!po || integer(*po, "nodePort") != 0) continue;
        auto it = by_name.find(str(*po, "name"));
        if (it != by_name.end() && it->second != 0 && !used.contains(it->second))
          (*po)["nodePort"] = it->second;
      }
  }
  if (needs_health_check(old_spec) && needs_health_check(spec) && integer(spec, "healthCheckNodePort") == 0 &&
      integer(old_spec, "healthCheckNodePort") != 0)
    spec["healthCheckNodePort"] = old_spec.at("healthCheckNodePort");
}

void drop_type_dependent_fields(const json::object& old, json::object& obj) {
  const json::object& old_spec = spec_of(old);
  json::object& spec = mutable_spec(obj);
  if (needs_cluster_ip(old_spec) && !needs_cluster_ip(spec)) {
    if (same(old_spec, spec, "clusterIP") && same(old_spec, spec, "clusterIPs")) {
      spec.erase("clusterIP");
      spec.erase("clusterIPs");
    }
    if (same(old_spec, spec, "ipFamilies")) spec.erase("ipFamilies");
    if (same(old_spec, spec, "ipFamilyPolicy")) spec.erase("ipFamilyPolicy");
  }
  if (needs_node_port(old_spec) && !needs_node_port(spec) && node_ports(old_spec) == node_ports(spec)) {
    if (json::value* ports = spec.if_contains("ports"); ports && ports->is_array())
      for (auto& p : ports->get_array())
        if (json::object* po = p.if_object()) po->erase("nodePort");
  }
  if (needs_health_check(old_spec) && !needs_health_check(spec) &&
      same(old_spec, spec, "healthCheckNodePort"))
    spec.erase("healthCheckNodePort");
  if (type_of(old_spec) == "LoadBalancer" && type_of(spec) != "LoadBalancer") {
    if (same(old_spec, spec, "allocateLoadBalancerNodePorts")) spec.erase("allocateLoadBalancerNodePorts");
    if (same(old_spec, spec, "loadBalancerClass")) spec.erase("loadBalancerClass");
  }
  if (externally_accessible(old_spec) && !externally_accessible(spec) &&
      same(old_spec, spec, "externalTrafficPolicy"))
    spec.erase("externalTrafficPolicy");
  if (type_of(spec) != "LoadBalancer")
    if (json::value* status = obj.if_contains("status"); status && status->is_object())
      status->get_object().erase("loadBalancer");
}

std::vector<StatusCause> validate_service(const json::object& obj, const json::object* old) {
  std::vector<StatusCause> out;
  const json::object& spec = spec_of(obj);
  std::string type = type_of(spec);
  bool headless = is_headless(spec);

  if (old) {
    validate_cluster_ip_update(spec_of(*old), spec, out);
    if (needs_health_check(spec_of(*old)) && needs_health_check(spec) &&
        integer(spec, "healthCheckNodePort") != integer(spec_of(*old), "healthCheckNodePort"))
      out.push_back(field::forbidden("spec.healthCheckNodePort", "field is immutable"));
  }

  const json::array* ports = array(spec, "ports");
  size_t nports = ports ? ports->size() : 0;
  if (nports == 0 && !headless && type != "ExternalName") out.push_back(field::required("spec.ports"));
  auto ips = strings(spec, "clusterIPs");
  if (type == "LoadBalancer" && headless)
    out.push_back(field::invalid("spec.clusterIPs[0]", field::quote(ips[0]),
                                 "may not be set to 'None' for LoadBalancer services"));
  if (type == "NodePort" && headless)
    out.push_back(field::invalid("spec.clusterIPs[0]", field::quote(ips[0]),
                                 "may not be set to 'None' for NodePort services"));
  if (type == "ExternalName") {
    if (!ips.empty())
      out.push_back(field::forbidden("spec.clusterIPs", "may not be set for ExternalName services"));
    if (!strings(spec, "ipFamilies").empty())
      out.push_back(field::forbidden("spec.ipFamilies", "may not be set for ExternalName services"));
    if (!absent(spec, "ipFamilyPolicy"))
      out.push_back(field::forbidden("spec.ipFamilyPolicy", "may not be set for ExternalName services"));
    std::string cname = str(spec, "externalName");
    if (!cname.empty() && cname.back() == '.') cname.pop_back();
    if (cname.empty())
      out.push_back(field::required("spec.externalName"));
    else
      for (const auto& msg : dns1123_subdomain_errors(cname))
        out.push_back(field::invalid("spec.externalName", field::quote(cname), msg));
  }

  std::set<std::string> names;
  for (size_t i = 0; i < nports; ++i) {
    std::string path = field::index("spec.ports", i);
    const json::object* port = (*ports)[i].if_object();
    if (!port) {
      out.push_back(field::invalid(path, render((*ports)[i]), "must be an object"));
      continue;
    }
    std::string name = str(*port, "name");
    if (nports > 1 && name.empty()) {
      out.push_back(field::required(path + ".name"));
    } else if (!name.empty()) {
      for (const auto& msg : dns1123_label_errors(name))
        out.push_back(field::invalid(path + ".name", field::quote(name), msg));
      if (!names.insert(name).second) out.push_back(field::duplicate(path + ".name", field::quote(name)));
    }
    const json::value* pv = port->if_contains("port");
    auto pn = as_int(pv);
    if (!pn)
      out.push_back(field::invalid(path + ".port", pv ? render(*pv) : "0", kPortRangeMsg));
    else if (*pn < 1 || *pn > 65535)
      out.push_back(field::invalid(path + ".port", std::to_string(*pn), kPortRangeMsg));
    std::string protocol = str(*port, "protocol");
    if (protocol.empty())
      out.push_back(field::required(path + ".protocol"));
    else if (protocol != "TCP" && protocol != "UDP" && protocol != "SCTP")
      out.push_back(field::not_supported(path + ".protocol", field::quote(protocol), {"SCTP", "TCP", "UDP"}));
    validate_port_num_or_name(port->if_contains("targetPort"), path + ".targetPort", out);
  }

  if (const json::value* selector = spec.if_contains("selector"); selector && !selector->is_null())
    for (auto& c : validate_labels(selector)) {
      c.field = "spec.selector";
      out.push_back(std::move(c));
    }

  std::string affinity = str(spec, "sessionAffinity");
  if (absent(spec, "sessionAffinity"))
    out.push_back(field::required("spec.sessionAffinity"));
  else if (affinity != "ClientIP" && affinity != "None")
    out.push_back(field::not_supported("spec.sessionAffinity", render(spec.at("sessionAffinity")),
                                       {"ClientIP", "None"}));
  if (affinity == "ClientIP") {
    const std::string when = "when session affinity type is ClientIP";
    const json::object* config = object(spec, "sessionAffinityConfig");
    const json::object* client = config ? object(*config, "clientIP") : nullptr;
    const json::value* timeout = client ? client->if_contains("timeoutSeconds") : nullptr;
    if (!config)
      out.push_back(field::required("spec.sessionAffinityConfig", when));
    else if (!client)
      out.push_back(field::required("spec.sessionAffinityConfig.clientIP", when));
    else if (!timeout || timeout->is_null())
      out.push_back(field::required("spec.sessionAffinityConfig.clientIP.timeoutSeconds", when));
    else if (auto t = as_int(timeout); !t || *t <= 0 || *t > kMaxAffinitySeconds)
      out.push_back(
          field::invalid("spec.sessionAffinityConfig.clientIP.timeoutSeconds", render(*timeout),
                         "must be greater than 0 and less than " + std::to_string(kMaxAffinitySeconds)));
  } else if (affinity == "None" && spec.contains("sessionAffinityConfig") &&
             !spec.at("sessionAffinityConfig").is_null()) {
    out.push_back(
        field::forbidden("spec.sessionAffinityConfig", "must not be set when session affinity is None"));
  }

  validate_cluster_ip_fields(spec, out);

  auto external = strings(spec, "externalIPs");
  for (size_t i = 0; i < external.size(); ++i) {
    std::string path = field::index("spec.externalIPs", i);
    if (!valid_ip(external[i]))
      out.push_back(field::invalid(path, field::quote(external[i]), kIpMsg));
    else
      validate_non_special_ip(external[i], path, out);
  }

  if (absent(spec, "type"))
    out.push_back(field::required("spec.type"));
  else if (type != "ClusterIP" && type != "NodePort" && type != "LoadBalancer" && type != "ExternalName")
    out.push_back(field::not_supported("spec.type", render(spec.at("type")),
                                       {"ClusterIP", "ExternalName", "LoadBalancer", "NodePort"}));

  if (type == "ClusterIP")
    for (size_t i = 0; i < nports; ++i)
      if (const json::object* port = (*ports)[i].if_object(); port && integer(*port, "nodePort") != 0)
        out.push_back(field::forbidden(field::index("spec.ports", i) + ".nodePort",
                                       "may not be used when `type` is 'ClusterIP'"));

  std::set<std::pair<std::string, int64_t>> node_port_keys, port_keys;
  for (size_t i = 0; i < nports; ++i) {
    const json::object* port = (*ports)[i].if_object();
    if (!port) continue;
    int64_t np = integer(*port, "nodePort");
    if (np != 0 && !node_port_keys.insert({str(*port, "protocol"), np}).second)
      out.push_back(field::duplicate(field::index("spec.ports", i) + ".nodePort", std::to_string(np)));
  }
  for (size_t i = 0; i < nports; ++i) {
    const json::object* port = (*ports)[i].if_object();
    if (!port) continue;
    std::pair<std::string, int64_t> key{str(*port, "protocol"), integer(*port, "port")};
    if (!port_keys.insert(key).second)
      out.push_back(
          field::duplicate(field::index("spec.ports", i), go_service_port_key(key.first, key.second)));
  }

  auto ranges = strings(spec, "loadBalancerSourceRanges");
  if (!ranges.empty()) {
    if (type != "LoadBalancer")
      out.push_back(field::forbidden("spec.LoadBalancerSourceRanges",
                                     "may only be used when `type` is 'LoadBalancer'"));
    for (size_t i = 0; i < ranges.size(); ++i) {
      std::string v = ranges[i];
      while (!v.empty() && v.front() == ' ') v.erase(v.begin());
      while (!v.empty() && v.back() == ' ') v.pop_back();
      if (!parse_prefix(v))
        out.push_back(field::invalid(field::index("spec.LoadBalancerSourceRanges", i), field::quote(v),
                                     "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"));
    }
  }
  bool has_alloc_lb =
      spec.contains("allocateLoadBalancerNodePorts") && !spec.at("allocateLoadBalancerNodePorts").is_null();
  if (has_alloc_lb && type != "LoadBalancer")
    out.push_back(field::forbidden("spec.allocateLoadBalancerNodePorts",
                                   "may only be used when `type` is 'LoadBalancer'"));
  if (type == "LoadBalancer" && !has_alloc_lb)
    out.push_back(field::required("allocateLoadBalancerNodePorts"));

  // validateServiceExternalTrafficPolicy
  if (!externally_accessible(spec)) {
    if (!absent(spec, "externalTrafficPolicy"))
      out.push_back(field::invalid("spec.externalTrafficPolicy", render(spec.at("externalTrafficPolicy")),
                                   "may only be set for externally-accessible services"));
  } else if (absent(spec, "externalTrafficPolicy")) {
    out.push_back(field::required("spec.externalTrafficPolicy"));
  } else if (std::string p = str(spec, "externalTrafficPolicy"); p != "Cluster" && p != "Local") {
    out.push_back(field::not_supported("spec.externalTrafficPolicy", render(spec.at("externalTrafficPolicy")),
                                       {"Cluster", "Local"}));
  }
  int64_t hc = integer(spec, "healthCheckNodePort");
  if (!needs_health_check(spec)) {
    if (hc != 0)
      out.push_back(field::invalid(
          "spec.healthCheckNodePort", std::to_string(hc),
          "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'"));
  } else if (hc != 0 && (hc < 1 || hc > 65535)) {  // 0: the allocator picks one
    out.push_back(field::invalid("spec.healthCheckNodePort", std::to_string(hc), kPortRangeMsg));
  }

  if (absent(spec, "internalTrafficPolicy")) {
    if (type == "NodePort" || type == "LoadBalancer" || type == "ClusterIP")
      out.push_back(field::required("spec.internalTrafficPolicy"));
  } else if (std::string p = str(spec, "internalTrafficPolicy"); p != "Cluster" && p != "Local") {
    out.push_back(field::not_supported("spec.internalTrafficPolicy", render(spec.at("internalTrafficPolicy")),
                                       {"Cluster", "Local"}));
  }
  if (!absent(spec, "trafficDistribution") && str(spec, "trafficDistribution") != "PreferClose")
    out.push_back(field::not_supported("spec.trafficDistribution", render(spec.at("trafficDistribution")),
                                       {"PreferClose"}));
  return out;
}

}  // namespace podnet::apiserver
