#include "controllers/lb_ip.h"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>

namespace podnet::controllers {
namespace json = boost::json;
namespace {

bool is_load_balancer(const json::value& svc) {
  return string_at(svc, {"spec", "type"}) == "LoadBalancer";
}

std::vector<IpAddress> ingress_ips(const json::value& svc) {
  std::vector<IpAddress> out;
  const auto* lb = object_at(svc, {"status", "loadBalancer"});
  const auto* ingress = lb ? lb->if_contains("ingress") : nullptr;
  if (!ingress || !ingress->is_array()) return out;
  for (const auto& i : ingress->as_array())
    if (auto ip = parse_ip(string_at(i, {"ip"}))) out.push_back(*ip);
  return out;
}

IpPrefix host(const IpAddress& ip) {
  return IpPrefix{ip, ip.is_v4() ? 32 : 128};
}

}  // namespace

Result<std::unique_ptr<LoadBalancerIpController>> LoadBalancerIpController::make(Cache& services,
                                                                                 k8s::EventRecorder events,
                                                                                 const std::string& pool,
                                                                                 Clock clock) {
  PODNET_TRY(range, parse_prefix(pool));
  auto addrs = PrefixAllocator::make(range, range.max_len(), range.is_v4() && range.len < 31);
  if (!addrs) return std::unexpected(wrap(addrs.error(), "--lb-pool " + pool));
  return std::unique_ptr<LoadBalancerIpController>(
      new LoadBalancerIpController(services, events, std::move(*addrs), std::move(clock)));
}

LoadBalancerIpController::LoadBalancerIpController(Cache& services, k8s::EventRecorder events,
                                                   PrefixAllocator pool, Clock clock)
    : Controller("lb-ip", std::move(clock)), services_(services), events_(events), pool_(std::move(pool)) {
  services_.add_handler([this](Change, const ObjectPtr& svc, const ObjectPtr&) { enqueue(key_of(*svc)); });
}

void LoadBalancerIpController::resync() {
  auto all = services_.list();
  for (const auto& svc : all) {
    if (!is_load_balancer(*svc)) continue;
    for (const auto& ip : ingress_ips(*svc)) {
      if (!pool_.contains(host(ip)) || owned_.contains(key_of(*svc))) continue;
      if (pool_.occupy(host(ip)))
        owned_[key_of(*svc)] = ip;
      else
        spdlog::warn("lb-ip: service {} has address {}, which another service has too", key_of(*svc),
                     ip.to_string());
    }
  }
  for (const auto& svc : all) enqueue(key_of(*svc));
}

void LoadBalancerIpController::release(const std::string& key) {
  auto it = owned_.find(key);
  if (it == owned_.end()) return;
  pool_.release(host(it->second));
  owned_.erase(it);
  // An address came free: services still waiting for one get another chance.
  for (const auto& svc : services_.list())
    if (is_load_balancer(*svc) && !owned_.contains(key_of(*svc))) enqueue(key_of(*svc));
}

Outcome LoadBalancerIpController::reconcile(const std::string& key) {
  ObjectPtr svc = services_.get(key);
  if (!svc) {
    release(key);
    return Outcome::kDone;
  }
  if (!is_load_balancer(*svc)) {
    release(key);
    for (const auto& ip : ingress_ips(*svc))
      if (pool_.contains(host(ip))) return write_status(key, "");
    return Outcome::kDone;
  }
  std::string requested = string_at(*svc, {"spec", "loadBalancerIP"});
  auto it = owned_.find(key);
  if (it != owned_.end() && !requested.empty() && requested != it->second.to_string()) {
    release(key);  // the user asked for another address
    it = owned_.end();
  }
  if (it == owned_.end()) {
    if (!requested.empty()) {
      auto ip = parse_ip(requested);
      if (!ip || !pool_.contains(host(*ip))) {
        warn(events_, *svc, "AllocationFailed",
             "Failed to allocate IP for \"" + key + "\": \"" + requested + "\" is not in the pool " +
                 pool_.range().str());
        return Outcome::kDone;
      }
      if (!pool_.occupy(host(*ip))) {
        warn(events_, *svc, "AllocationFailed",
             "Failed to allocate IP for \"" + key + "\": \"" + requested + "\" is already in use");
        return Outcome::kDone;
      }
      it = owned_.emplace(key, *ip).first;
    } else {
      auto p = pool_.allocate();
      if (!p) {
        warn(events_, *svc, "AllocationFailed",
             "Failed to allocate IP for \"" + key + "\": no available IPs in pool " + pool_.range().str());
        return Outcome::kDone;  // release() queues it again when an address comes free
      }
      it = owned_.emplace(key, p->addr).first;
    }
    spdlog::info("lb-ip: service {} gets {}", key, it->second.to_string());
  }
  auto current = ingress_ips(*svc);
  if (current.size() == 1 && current[0] == it->second) return Outcome::kDone;
  return write_status(key, it->second.to_string());
}

Outcome LoadBalancerIpController::write_status(const std::string& key, const std::string& ip) {
  auto [ns, name] = split_key(key);
  for (int attempt = 0; attempt < 5; ++attempt) {
    auto svc = services_.client().get(services_.object_path(ns, name));
    if (!svc) return k8s::is_not_found(svc.error()) ? Outcome::kDone : Outcome::kRetry;
    json::value& status = svc->as_object()["status"];
    if (!status.is_object()) status = json::object{};
    json::object lb;
    if (!ip.empty()) lb["ingress"] = json::array{json::object{{"ip", ip}, {"ipMode", "VIP"}}};
    status.as_object()["loadBalancer"] = std::move(lb);
    auto written = services_.client().update_status(services_.object_path(ns, name), std::move(*svc));
    if (written) return Outcome::kDone;
    if (!k8s::is_conflict(written.error())) {
      spdlog::warn("lb-ip: status of service {}: {}", key, written.error().message());
      return Outcome::kRetry;
    }
  }
  return Outcome::kRetry;
}

}  // namespace podnet::controllers
