#include "agent/lb.h"

#include <algorithm>
#include <boost/json.hpp>

namespace podnet::agent {

namespace json = boost::json;

std::vector<IpAddress> loadbalancer_ips(const json::value& service) {
  std::vector<IpAddress> out;
  const json::object* o = service.if_object();
  const json::value* spec = o ? o->if_contains("spec") : nullptr;
  const json::value* type = spec && spec->is_object() ? spec->get_object().if_contains("type") : nullptr;
  if (!type || !type->is_string() || type->get_string() != "LoadBalancer") return out;
  const json::value* status = o->if_contains("status");
  const json::value* lb =
      status && status->is_object() ? status->get_object().if_contains("loadBalancer") : nullptr;
  const json::value* ingress = lb && lb->is_object() ? lb->get_object().if_contains("ingress") : nullptr;
  if (!ingress || !ingress->is_array()) return out;
  for (const auto& i : ingress->get_array()) {
    const json::value* ip = i.is_object() ? i.get_object().if_contains("ip") : nullptr;
    if (!ip || !ip->is_string()) continue;
    if (auto a = parse_ip(ip->get_string()); a) out.push_back(*a);
  }
  return out;
}

std::vector<IpAddress> inside_pools(const std::vector<IpAddress>& ips, const std::vector<IpPrefix>& pools,
                                    std::vector<IpAddress>& outside) {
  std::vector<IpAddress> in;
  for (const auto& ip : ips) {
    bool ok = std::any_of(pools.begin(), pools.end(), [&](const IpPrefix& p) { return p.contains(ip); });
    (ok ? in : outside).push_back(ip);
  }
  return in;
}

namespace {
// FNV-1a, 64 bit: stable across processes and builds, unlike std::hash.
uint64_t fnv1a(std::string_view s) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}
}  // namespace

std::string lb_owner(const IpAddress& ip, const std::vector<std::string>& ready_nodes) {
  std::string best;
  uint64_t best_hash = 0;
  const std::string key = ip.to_string() + "/";
  for (const auto& n : ready_nodes) {
    uint64_t h = fnv1a(key + n);
    if (best.empty() || h > best_hash || (h == best_hash && n < best)) {
      best = n;
      best_hash = h;
    }
  }
  return best;
}

}  // namespace podnet::agent
