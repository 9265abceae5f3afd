// Level-triggered on one key: every change to `default/kubernetes` (the Service or a slice of that
// name or label) queues it, and reconcile compares what is stored with what should be, field by
// field that matters, writing only on a difference. An update the server refuses (a field that
// cannot change, such as a slice's addressType) is repaired by deleting the object: its deletion
// queues the key again and the next pass creates it as it should be.
#include "controllers/kubernetes_service.h"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>

#include "common/ip.h"
#include "controllers/endpoint_slices.h"

namespace podnet::controllers {
namespace json = boost::json;

namespace {

constexpr const char* kNamespace = "default";
constexpr const char* kName = "kubernetes";
constexpr const char* kKey = "default/kubernetes";

// The fields of a Service port that the Service's meaning depends on.
json::array service_ports(const json::value& svc) {
  json::array out;
  const json::object* spec = object_at(svc, {"spec"});
  const json::value* ports = spec ? spec->if_contains("ports") : nullptr;
  if (!ports || !ports->is_array()) return out;
  for (const auto& p : ports->get_array()) {
    const json::object* port = p.if_object();
    if (!port) continue;
    json::object norm;
    for (const char* field : {"name", "protocol", "port", "targetPort"})
      if (const json::value* v = port->if_contains(field)) norm[field] = *v;
    out.push_back(std::move(norm));
  }
  return out;
}

bool service_as_desired(const json::value& svc, const json::value& want) {
  const json::object* selector = object_at(svc, {"spec", "selector"});
  return service_ports(svc) == service_ports(want) && string_at(svc, {"spec", "type"}) == "ClusterIP" &&
         (!selector || selector->empty());
}

// A slice reduced to what a reader acts on: address type, endpoint addresses and readiness, ports.
json::value slice_meaning(const json::value& slice) {
  json::object out;
  out["addressType"] = string_at(slice, {"addressType"});
  out["serviceName"] = string_at(slice, {"metadata", "labels", kServiceNameLabel});
  json::array endpoints, ports;
  const json::object* s = slice.if_object();
  if (const json::value* eps = s ? s->if_contains("endpoints") : nullptr; eps && eps->is_array())
    for (const auto& ep : eps->get_array()) {
      const json::object* e = ep.if_object();
      if (!e) continue;
      const json::value* addresses = e->if_contains("addresses");
      const json::object* conditions = object_at(ep, {"conditions"});
      const json::value* ready = conditions ? conditions->if_contains("ready") : nullptr;
      endpoints.push_back(json::object{{"addresses", addresses ? *addresses : json::value()},
                                       {"ready", ready ? *ready : json::value()}});
    }
  if (const json::value* ps = s ? s->if_contains("ports") : nullptr; ps && ps->is_array())
    for (const auto& p : ps->get_array()) {
      const json::object* port = p.if_object();
      if (!port) continue;
      json::object norm;
      for (const char* field : {"name", "protocol", "port"})
        if (const json::value* v = port->if_contains(field)) norm[field] = *v;
      ports.push_back(std::move(norm));
    }
  out["endpoints"] = std::move(endpoints);
  out["ports"] = std::move(ports);
  return out;
}

}  // namespace

Result<std::string> first_service_ip(const std::string& service_cidr) {
  // Dual-stack ranges ("10.96.0.0/12,fd00::/108"): the primary (first) one, as kube.
  std::string primary = service_cidr.substr(0, service_cidr.find(','));
  PODNET_TRY(range, parse_prefix(primary));
  IpPrefix net = range.network();
  IpAddress first = ip_add(net.addr, 1);
  if (!net.contains(first)) return fail_msg("service range " + primary + " has no address for kubernetes");
  return first.to_string();
}

json::value desired_kubernetes_service(const KubernetesServiceConfig& config) {
  return json::object{
      {"apiVersion", "v1"},
      {"kind", "Service"},
      {"metadata",
       {{"name", kName},
        {"namespace", kNamespace},
        {"labels", {{"component", "apiserver"}, {"provider", "kubernetes"}}}}},
      {"spec",
       {{"type", "ClusterIP"},
        {"clusterIP", config.cluster_ip},
        {"sessionAffinity", "None"},
        {"ports",
         json::array{json::object{
             {"name", "https"}, {"protocol", "TCP"}, {"port", 443}, {"targetPort", config.port}}}}}}};
}

json::value desired_kubernetes_slice(const KubernetesServiceConfig& config) {
  bool v6 = !config.advertise_ips.empty();
  for (const auto& ip : config.advertise_ips) v6 = v6 && ip.find(':') != std::string::npos;
  json::array endpoints;
  for (const auto& ip : config.advertise_ips)
    endpoints.push_back(
        json::object{{"addresses", json::array{json::value(ip)}}, {"conditions", {{"ready", true}}}});
  return json::object{
      {"apiVersion", "discovery.k8s.io/v1"},
      {"kind", "EndpointSlice"},
      {"metadata", {{"name", kName}, {"namespace", kNamespace}, {"labels", {{kServiceNameLabel, kName}}}}},
      {"addressType", v6 ? "IPv6" : "IPv4"},
      {"endpoints", std::move(endpoints)},
      {"ports", json::array{json::object{{"name", "https"}, {"protocol", "TCP"}, {"port", config.port}}}}};
}

KubernetesServiceController::KubernetesServiceController(Cache& services, Cache& slices,
                                                         KubernetesServiceConfig config, Clock clock)
    : Controller("kubernetes-service", std::move(clock)),
      services_(services),
      slices_(slices),
      config_(std::move(config)) {
  services_.add_handler([this](Change, const ObjectPtr& svc, const ObjectPtr&) {
    if (key_of(*svc) == kKey) enqueue(kKey);
  });
  slices_.add_handler([this](Change, const ObjectPtr& slice, const ObjectPtr& old) {
    for (const ObjectPtr& s : {slice, old})
      if (s && namespace_of(*s) == kNamespace &&
          (name_of(*s) == kName || string_at(*s, {"metadata", "labels", kServiceNameLabel}) == kName))
        enqueue(kKey);
  });
}

void KubernetesServiceController::resync() {
  enqueue(kKey);
}

Outcome KubernetesServiceController::reconcile(const std::string&) {
  Outcome service = reconcile_service();
  Outcome slice = reconcile_slice();
  return service == Outcome::kRetry || slice == Outcome::kRetry ? Outcome::kRetry : Outcome::kDone;
}

Outcome KubernetesServiceController::reconcile_service() {
  k8s::ApiClient& client = services_.client();
  const std::string path = services_.object_path(kNamespace, kName);
  json::value want = desired_kubernetes_service(config_);
  auto current = client.get(path);
  if (!current) {
    if (!k8s::is_not_found(current.error())) return Outcome::kRetry;
    auto created = client.create(services_.collection_path(kNamespace), want);
    if (created) {
      spdlog::info("kubernetes-service: created service default/kubernetes ({}:443 -> port {})",
                   config_.cluster_ip, config_.port);
      return Outcome::kDone;
    }
    // AlreadyExists: someone was faster, look again; an address taken by another Service is
    // logged and retried with backoff until it is free.
    spdlog::warn("kubernetes-service: create service default/kubernetes: {}", created.error().message());
    return Outcome::kRetry;
  }
  if (service_as_desired(*current, want)) return Outcome::kDone;
  json::value& spec_value = current->as_object()["spec"];
  if (!spec_value.is_object()) spec_value = json::object{};
  json::object& spec = spec_value.get_object();
  spec["type"] = "ClusterIP";
  spec["ports"] = want.at("spec").at("ports");
  spec.erase("selector");
  auto updated = client.update(path, std::move(*current));
  if (updated) {
    spdlog::info("kubernetes-service: repaired service default/kubernetes (ports, type, selector)");
    return Outcome::kDone;
  }
  if (k8s::is_conflict(updated.error())) return Outcome::kRetry;
  spdlog::warn("kubernetes-service: update service default/kubernetes: {}; recreating it",
               updated.error().message());
  auto removed = client.remove(path);
  return removed || k8s::is_not_found(removed.error()) ? Outcome::kDone : Outcome::kRetry;
}

Outcome KubernetesServiceController::reconcile_slice() {
  k8s::ApiClient& client = slices_.client();
  const std::string path = slices_.object_path(kNamespace, kName);
  json::value want = desired_kubernetes_slice(config_);
  auto current = client.get(path);
  if (!current) {
    if (!k8s::is_not_found(current.error())) return Outcome::kRetry;
    auto created = client.create(slices_.collection_path(kNamespace), want);
    if (created) {
      spdlog::info("kubernetes-service: created endpointslice default/kubernetes ({} endpoint(s))",
                   config_.advertise_ips.size());
      return Outcome::kDone;
    }
    spdlog::warn("kubernetes-service: create endpointslice default/kubernetes: {}",
                 created.error().message());
    return Outcome::kRetry;
  }
  if (slice_meaning(*current) == slice_meaning(want)) return Outcome::kDone;
  json::object& slice = current->as_object();
  for (const char* field : {"addressType", "endpoints", "ports"}) slice[field] = want.at(field);
  json::value& meta = slice["metadata"];
  if (!meta.is_object()) meta = json::object{};
  json::value& labels = meta.get_object()["labels"];
  if (!labels.is_object()) labels = json::object{};
  labels.get_object()[kServiceNameLabel] = kName;
  auto updated = client.update(path, std::move(*current));
  if (updated) {
    spdlog::info("kubernetes-service: repaired endpointslice default/kubernetes");
    return Outcome::kDone;
  }
  if (k8s::is_conflict(updated.error())) return Outcome::kRetry;
  spdlog::warn("kubernetes-service: update endpointslice default/kubernetes: {}; recreating it",
               updated.error().message());
  auto removed = client.remove(path);
  return removed || k8s::is_not_found(removed.error()) ? Outcome::kDone : Outcome::kRetry;
}

}  // namespace podnet::controllers
