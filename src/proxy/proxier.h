// The service proxy: keeps the Services and EndpointSlices it is told about, and on sync() writes
// what changed since the last sync to the kernel (everything the first time), rate-limited.
#pragma once

#include <chrono>
#include <map>
#include <set>
#include <string>
#include <unordered_map>

#include "k8s/model.h"
#include "proxy/conntrack.h"
#include "proxy/kernel.h"
#include "proxy/planner.h"
#include "proxy/state.h"
#include "proxy/sync_report.h"

namespace podnet::proxy {

struct ProxierOptions {
  NodeInfo node;
  RulesetConfig ruleset;
  // At most one sync per interval: a burst of endpoint changes is written as one batch.
  std::chrono::milliseconds min_sync_interval{1000};
};

struct SyncMetrics {
  uint64_t full_syncs = 0, partial_syncs = 0, failed_syncs = 0;
  std::chrono::microseconds last_full_sync{0}, last_partial_sync{0};
  size_t services = 0, frontends = 0, endpoints = 0, chains = 0;
  size_t last_sync_element_ops = 0;  // element operations the last partial sync wrote
  uint64_t conntrack_deleted = 0, conntrack_failures = 0;
};

class Proxier {
 public:
  using Clock = std::chrono::steady_clock;
  // `conntrack` (may be null: no cleanup) removes stale UDP entries after each partial sync (or
  // after the full sync that follows a failed one).
  Proxier(ProxyKernel& kernel, ProxierOptions options, Conntrack* conntrack = nullptr)
      : kernel_(kernel), conntrack_(conntrack), opts_(std::move(options)), state_(opts_.ruleset) {}

  void upsert_service(k8s::Service service);
  void delete_service(const std::string& namespace_, const std::string& name);
  // Slices are filed under their kubernetes.io/service-name label (a slice whose label changes
  // moves to the new Service). Deletion needs only the slice's namespace and name: an informer that
  // keeps no objects delivers what vanished in a relist as its key alone.
  void upsert_slice(const k8s::EndpointSlice& slice);
  void delete_slice(const std::string& namespace_, const std::string& name);
  void delete_slice(const k8s::EndpointSlice& slice) { delete_slice(slice.meta.namespace_, slice.meta.name); }

  // Frontends served by a local process instead (the node-local DNS on the kube-dns ClusterIP,
  // docs/datapath.md section 4): left out of service-ips and no-endpoints, whatever their
  // Service says. Other ports of the same address are proxied as usual.
  void set_local_frontends(std::vector<Frontend> frontends);

  // Writes pending changes unless the last sync was less than min_sync_interval before `now`
  // (then returns false; try again at next_sync_at()). A failed sync makes the next one full.
  Result<bool> sync(Clock::time_point now);
  Clock::time_point next_sync_at() const { return last_sync_ + opts_.min_sync_interval; }
  bool pending() const { return needs_full_ || !dirty_.empty(); }

  // Told of queued changes and sync outcomes (may be null). Called on the thread that calls sync()
  // and the upsert/delete methods.
  void set_observer(SyncObserver* observer) { observer_ = observer; }

  const SyncMetrics& metrics() const { return metrics_; }
  const ProxyState& state() const { return state_; }

 private:
  std::optional<ServicePlan> plan_for(const std::string& service_key) const;
  std::optional<HealthService> health_for(const std::string& service_key) const;
  void mark_dirty(const std::string& key);
  void clear_stale_flows();
  void report(bool full, bool ok, std::chrono::duration<double> took, uint64_t conntrack_deleted);
  Status full_sync();
  Status partial_sync();

  ProxyKernel& kernel_;
  Conntrack* conntrack_;
  ProxierOptions opts_;
  ProxyState state_;
  // One entry per service name, holding the Service (once seen) and its slices: at 10^5 services
  // the bookkeeping is a large part of the proxy's memory, so there is one map, not three.
  struct Entry {
    std::optional<k8s::Service> service;
    std::vector<std::pair<std::string, SliceInfo>> slices;  // by slice name; a service has few
  };
  std::map<std::string, Entry> entries_;  // "ns/name" of the service
  // "ns/slice name" -> the Service name it is filed under (its label when last seen).
  std::unordered_map<std::string, std::string> slice_owner_;
  std::set<std::string> dirty_;            // service keys changed since the last sync
  std::vector<Frontend> local_frontends_;  // sorted; see set_local_frontends
  std::vector<StaleFlow> stale_flows_;     // UDP conntrack entries to delete after the next good sync
  SyncObserver* observer_ = nullptr;
  bool queued_reported_ = false;  // since the last successful sync
  // When each slice change not yet synced was triggered (wall clock).
  std::vector<std::chrono::system_clock::time_point> triggers_;
  std::map<std::string, HealthService> health_;  // by service key; only services with a health check
  bool health_changed_ = false;
  bool needs_full_ = true;
  Clock::time_point last_sync_{};
  SyncMetrics metrics_;
};

}  // namespace podnet::proxy
