// What the Proxier tells the outside after each sync (metrics, health checks): plain data and an
// observer interface, so the HTTP side never reaches into the Proxier or shares its lock.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace podnet::proxy {

// A LoadBalancer Service with externalTrafficPolicy Local and its healthCheckNodePort: load
// balancers ask that port whether this node has endpoints of the service.
struct HealthService {
  std::string namespace_, name;
  uint32_t local_endpoints = 0;  // ready endpoints on this node
  bool operator==(const HealthService&) const = default;
};
using HealthServices = std::map<uint16_t, HealthService>;  // by healthCheckNodePort

struct SyncReport {
  bool full = false;
  bool ok = true;
  std::chrono::duration<double> took{0};
  std::chrono::system_clock::time_point at;  // when the sync ended (wall clock, for metrics)
  // Seconds from each synced EndpointSlice change's trigger (its last-change-trigger-time
  // annotation, else when the proxy received it) to the end of this sync.
  std::vector<double> programming_latencies;
  size_t services = 0, frontends = 0, endpoints = 0, elements = 0, chains = 0;
  uint64_t conntrack_deleted = 0;        // by this sync
  std::optional<HealthServices> health;  // all of them, when they changed
};

class SyncObserver {
 public:
  virtual ~SyncObserver() = default;
  // The first change after a sync (kube-proxy's health: changes not written for too long = unhealthy).
  virtual void queued(std::chrono::steady_clock::time_point when) = 0;
  virtual void synced(const SyncReport& report) = 0;
};

}  // namespace podnet::proxy
