#include "apiserver/endpoints/proxy_target.h"

#include <boost/json.hpp>
#include <charconv>

#include "common/ip_scope.h"
#include "k8s/json_fields.h"

namespace podnet::apiserver {
namespace json = boost::json;
using k8s::fields::array_at;
using k8s::fields::at;
using k8s::fields::string_at;

namespace {

ApiError address_not_allowed() {
  return bad_request("address not allowed");
}

ApiError service_unavailable(std::string message) {
  return {503, "ServiceUnavailable", std::move(message)};
}

std::optional<uint16_t> port_number(std::string_view text) {
  unsigned port = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || port < 1 || port > 65535)
    return std::nullopt;
  return static_cast<uint16_t>(port);
}

std::vector<std::string> pod_ips(const json::value& pod) {
  std::vector<std::string> out;
  if (const json::array* ips = array_at(pod, {"status", "podIPs"}))
    for (const auto& entry : *ips)
      if (std::string ip = string_at(entry, {"ip"}); !ip.empty()) out.push_back(ip);
  if (out.empty())
    if (std::string ip = string_at(pod, {"status", "podIP"}); !ip.empty()) out.push_back(ip);
  return out;
}

ApiResult<void> https_refused(const ProxyName& id) {
  if (id.scheme == "https")
    return api_fail(bad_request("podnet's proxy speaks plain http to pods; \"https:" + id.name + ":" +
                                id.port + "\" is not served"));
  return {};
}

}  // namespace

std::optional<ProxyName> split_scheme_name_port(std::string_view id) {
  std::vector<std::string_view> parts;
  while (true) {
    size_t colon = id.find(':');
    parts.push_back(id.substr(0, colon));
    if (colon == std::string_view::npos || parts.size() > 3) break;
    id = id.substr(colon + 1);
  }
  ProxyName n;
  switch (parts.size()) {
    case 1:
      n.name = parts[0];
      break;
    case 2:
      n.name = parts[0];
      n.port = parts[1];
      break;
    case 3:
      n.scheme = parts[0];
      n.name = parts[1];
      n.port = parts[2];
      break;
    default:
      return std::nullopt;
  }
  if (n.name.empty() || (n.scheme != "" && n.scheme != "http" && n.scheme != "https")) return std::nullopt;
  return n;
}

ApiResult<ProxyTarget> pod_proxy_target(const json::value& pod, const ProxyName& id) {
  if (auto h = https_refused(id); !h) return std::unexpected(h.error());
  ProxyTarget t;
  t.scheme = id.scheme;
  t.ns = string_at(pod, {"metadata", "namespace"});
  t.pod = string_at(pod, {"metadata", "name"});
  std::string port = id.port;
  if (port.empty())
    if (const json::array* containers = array_at(pod, {"spec", "containers"}))
      for (const auto& c : *containers)
        if (const json::array* ports = array_at(c, {"ports"}); ports && !ports->empty()) {
          port = std::to_string(k8s::fields::int_at((*ports)[0], {"containerPort"}));
          break;
        }
  if (!port.empty()) {
    auto n = port_number(port);
    if (!n) return api_fail(bad_request("invalid port \"" + port.substr(0, 32) + "\" in pod request"));
    t.port = *n;
  }
  auto ips = pod_ips(pod);
  if (ips.empty()) return api_fail(address_not_allowed());
  auto ip = parse_ip(ips[0]);
  if (!ip || !ip_global_unicast(*ip)) return api_fail(address_not_allowed());
  t.ip = ips[0];
  t.node = string_at(pod, {"spec", "nodeName"});
  if (t.node.empty()) return api_fail(bad_request("pod " + t.pod + " does not have a host assigned"));
  return t;
}

ApiResult<ProxyTarget> service_proxy_target(const json::value& service,
                                            const std::vector<json::value>& slices, const PodGetter& pods,
                                            const ProxyName& id, const std::function<size_t(size_t)>& pick) {
  if (auto h = https_refused(id); !h) return std::unexpected(h.error());
  const std::string ns = string_at(service, {"metadata", "namespace"});
  const std::string name = string_at(service, {"metadata", "name"});
  std::string port_name = id.port;
  // A port number names the Service port of that number (kube: "use the declared port's name").
  if (auto n = port_number(id.port)) {
    bool found = false;
    if (const json::array* ports = array_at(service, {"spec", "ports"}))
      for (const auto& p : *ports)
        if (k8s::fields::int_at(p, {"port"}) == *n) {
          port_name = string_at(p, {"name"});
          found = true;
          break;
        }
    if (!found)
      return api_fail(service_unavailable("no service port " + std::to_string(*n) + " found for service \"" +
                                          name + "\""));
  }
  struct Candidate {
    std::string ip, pod;
    uint16_t port;
  };
  std::vector<Candidate> candidates;
  for (const auto& slice : slices) {
    std::string type = string_at(slice, {"addressType"});
    if (type != "IPv4" && type != "IPv6") continue;
    const json::array* ports = array_at(slice, {"ports"});
    const json::array* endpoints = array_at(slice, {"endpoints"});
    if (!ports || !endpoints) continue;
    for (const auto& p : *ports) {
      auto number = port_number(std::to_string(k8s::fields::int_at(p, {"port"})));
      if (string_at(p, {"name"}) != port_name || !number) continue;
      for (const auto& e : *endpoints) {
        const json::value* ready = at(e, {"conditions", "ready"});
        if (ready && ready->is_bool() && !ready->get_bool()) continue;
        // kube's isValidAddress: the endpoint must reference a pod of the Service's namespace.
        if (string_at(e, {"targetRef", "kind"}) != "Pod") continue;
        std::string ref_ns = string_at(e, {"targetRef", "namespace"});
        if (!ref_ns.empty() && ref_ns != ns) continue;
        std::string pod = string_at(e, {"targetRef", "name"});
        if (const json::array* addrs = array_at(e, {"addresses"}))
          for (const auto& a : *addrs)
            if (a.is_string()) candidates.push_back({std::string(a.get_string()), pod, *number});
      }
    }
  }
  // Start at a random candidate; the first whose pod has the address wins.
  const size_t start = candidates.empty() ? 0 : pick(candidates.size()) % candidates.size();
  for (size_t k = 0; k < candidates.size(); ++k) {
    const Candidate& c = candidates[(start + k) % candidates.size()];
    auto pod = pods(c.pod);
    if (!pod) continue;
    auto ips = pod_ips(*pod);
    auto own = parse_ip(c.ip);
    bool match = false;
    for (const auto& ip : ips)
      if (auto a = parse_ip(ip); a && own && *a == *own) match = true;
    std::string node = string_at(*pod, {"spec", "nodeName"});
    if (!match || node.empty()) continue;
    ProxyTarget t;
    t.scheme = id.scheme;
    t.ns = ns;
    t.pod = c.pod;
    t.node = node;
    t.ip = c.ip;
    t.port = c.port;
    return t;
  }
  return api_fail(service_unavailable("no endpoints available for service \"" + name + "\""));
}

ApiResult<void> check_proxy_address(const std::string& ip_text, const std::vector<json::value>& nodes) {
  auto ip = parse_ip(ip_text);
  if (!ip || !ip_global_unicast(*ip)) return api_fail(address_not_allowed());
  for (const auto& node : nodes)
    if (const json::array* addrs = array_at(node, {"status", "addresses"}))
      for (const auto& a : *addrs)
        if (auto own = parse_ip(string_at(a, {"address"})); own && *own == *ip)
          return api_fail(address_not_allowed());
  return {};
}

std::string rewrite_location(std::string_view location, std::string_view proxy_prefix) {
  if (!location.starts_with("/") || location.starts_with("//")) return std::string(location);
  return std::string(proxy_prefix) + std::string(location);
}

}  // namespace podnet::apiserver
