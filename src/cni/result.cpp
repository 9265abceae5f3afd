#include "cni/result.h"

#include <boost/json.hpp>

#include "cni/version.h"

namespace podnet::cni {
namespace json = boost::json;

std::string encode_result(const NetResult& r, const std::string& cni_version) {
  const bool legacy = compare_versions(cni_version, "1.0.0") < 0;  // 0.3.x / 0.4.0
  const bool v11 = compare_versions(cni_version, "1.1.0") >= 0;
  json::object o;
  o["cniVersion"] = cni_version;
  json::array ifs;
  for (const auto& i : r.interfaces) {
    json::object x;
    x["name"] = i.name;
    if (!i.mac.empty()) x["mac"] = i.mac;
    if (v11 && i.mtu != 0) x["mtu"] = i.mtu;
    if (!i.sandbox.empty()) x["sandbox"] = i.sandbox;
    ifs.push_back(std::move(x));
  }
  if (!ifs.empty()) o["interfaces"] = std::move(ifs);
  json::array ips;
  for (const auto& ip : r.ips) {
    json::object x;
    if (legacy) x["version"] = ip.address.is_v4() ? "4" : "6";
    if (ip.interface) x["interface"] = *ip.interface;
    x["address"] = ip.address.str();
    if (ip.gateway) x["gateway"] = ip.gateway->to_string();
    ips.push_back(std::move(x));
  }
  if (!ips.empty()) o["ips"] = std::move(ips);
  json::array routes;
  for (const auto& rt : r.routes) {
    json::object x;
    x["dst"] = rt.dst.str();
    if (rt.gw) x["gw"] = rt.gw->to_string();
    routes.push_back(std::move(x));
  }
  if (!routes.empty()) o["routes"] = std::move(routes);
  o["dns"] = r.dns.is_object() ? r.dns : json::object{};
  return json::serialize(o);
}

CniResult<NetResult> decode_result(const json::value& v) {
  if (!v.is_object()) return cni_fail(kDecodeFailure, "result must be a JSON object");
  const auto& o = v.as_object();
  NetResult r;
  auto str = [](const json::object& x, std::string_view k) -> std::string {
    auto* f = x.if_contains(k);
    return f && f->is_string() ? std::string(f->as_string()) : std::string{};
  };
  if (auto* ifs = o.if_contains("interfaces"); ifs && ifs->is_array()) {
    for (const auto& i : ifs->as_array()) {
      if (!i.is_object()) return cni_fail(kDecodeFailure, "result interfaces[] must be objects");
      InterfaceResult ir{str(i.as_object(), "name"), str(i.as_object(), "mac"), str(i.as_object(), "sandbox"),
                         0};
      r.interfaces.push_back(std::move(ir));
    }
  }
  if (auto* ips = o.if_contains("ips"); ips && ips->is_array()) {
    for (const auto& i : ips->as_array()) {
      if (!i.is_object()) return cni_fail(kDecodeFailure, "result ips[] must be objects");
      const auto& x = i.as_object();
      auto addr = parse_prefix(str(x, "address"));
      if (!addr) return cni_fail(kDecodeFailure, "result ips[].address: " + addr.error().message());
      IpResult ip{*addr, std::nullopt, std::nullopt};
      if (auto gw = str(x, "gateway"); !gw.empty()) {
        auto g = parse_ip(gw);
        if (!g) return cni_fail(kDecodeFailure, "result ips[].gateway: " + g.error().message());
        ip.gateway = *g;
      }
      if (auto* idx = x.if_contains("interface"); idx && idx->is_int64())
        ip.interface = static_cast<int>(idx->as_int64());
      r.ips.push_back(ip);
    }
  }
  if (auto* routes = o.if_contains("routes"); routes && routes->is_array()) {
    for (const auto& i : routes->as_array()) {
      if (!i.is_object()) return cni_fail(kDecodeFailure, "result routes[] must be objects");
      auto dst = parse_prefix(str(i.as_object(), "dst"));
      if (!dst) return cni_fail(kDecodeFailure, "result routes[].dst: " + dst.error().message());
      RouteResult rt{dst->network(), std::nullopt};
      if (auto gw = str(i.as_object(), "gw"); !gw.empty()) {
        auto g = parse_ip(gw);
        if (!g) return cni_fail(kDecodeFailure, "result routes[].gw: " + g.error().message());
        rt.gw = *g;
      }
      r.routes.push_back(rt);
    }
  }
  if (auto* dns = o.if_contains("dns")) r.dns = *dns;
  return r;
}

}  // namespace podnet::cni
