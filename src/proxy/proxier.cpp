// Change tracking for the proxy: an object change marks its Service dirty; a sync re-plans only
// dirty Services and writes their diffs as one transaction.
#include "proxy/proxier.h"

#include <algorithm>
#include <set>
#include <vector>

#include "common/time.h"

namespace podnet::proxy {
namespace {

std::string key_of(const std::string& ns, const std::string& name) {
  return ns + "/" + name;
}

}  // namespace

void Proxier::mark_dirty(const std::string& key) {
  if (observer_ && !queued_reported_) {
    observer_->queued(Clock::now());
    queued_reported_ = true;
  }
  dirty_.insert(key);
}

void Proxier::upsert_service(k8s::Service service) {
  auto key = key_of(service.meta.namespace_, service.meta.name);
  service.meta = {};  // the key says all the proxy needs of it
  entries_[key].service = std::move(service);
  mark_dirty(key);
}

void Proxier::delete_service(const std::string& ns, const std::string& name) {
  auto key = key_of(ns, name);
  auto it = entries_.find(key);
  if (it == entries_.end() || !it->second.service) return;
  it->second.service.reset();
  if (it->second.slices.empty()) entries_.erase(it);
  mark_dirty(key);
}

void Proxier::upsert_slice(const k8s::EndpointSlice& slice) {
  std::string service = slice.service_name();
  auto slice_key = key_of(slice.meta.namespace_, slice.meta.name);
  if (auto owner = slice_owner_.find(slice_key); owner != slice_owner_.end() && owner->second != service)
    delete_slice(slice.meta.namespace_, slice.meta.name);  // relabelled: leaves its old Service
  if (service.empty()) return;                             // not a Service's slice
  auto key = key_of(slice.meta.namespace_, service);
  auto& slices = entries_[key].slices;
  auto info = summarize_slice(slice, opts_.node.name);
  auto trigger = parse_rfc3339(slice.last_change_trigger_time);
  triggers_.push_back(trigger ? *trigger : std::chrono::system_clock::now());
  auto it =
      std::find_if(slices.begin(), slices.end(), [&](const auto& s) { return s.first == slice.meta.name; });
  if (it != slices.end())
    it->second = std::move(info);
  else
    slices.emplace_back(slice.meta.name, std::move(info));
  slice_owner_[slice_key] = std::move(service);
  mark_dirty(key);
}

void Proxier::delete_slice(const std::string& ns, const std::string& name) {
  auto owner = slice_owner_.find(key_of(ns, name));
  if (owner == slice_owner_.end()) return;
  auto key = key_of(ns, owner->second);
  slice_owner_.erase(owner);
  auto entry = entries_.find(key);
  if (entry == entries_.end()) return;
  auto& slices = entry->second.slices;
  auto it = std::find_if(slices.begin(), slices.end(), [&](const auto& s) { return s.first == name; });
  if (it == slices.end()) return;
  slices.erase(it);
  triggers_.push_back(std::chrono::system_clock::now());
  if (slices.empty() && !entry->second.service) entries_.erase(entry);
  mark_dirty(key);
}

std::optional<ServicePlan> Proxier::plan_for(const std::string& service_key) const {
  auto it = entries_.find(service_key);
  if (it == entries_.end() || !it->second.service) return std::nullopt;
  std::vector<const SliceInfo*> slices;
  for (const auto& [_, info] : it->second.slices) slices.push_back(&info);
  ServicePlan plan = plan_service(*it->second.service, slices, opts_.node);
  if (!local_frontends_.empty())
    std::erase_if(plan.frontends, [&](const FrontendPlan& f) {
      return std::binary_search(local_frontends_.begin(), local_frontends_.end(), f.frontend);
    });
  return plan;
}

void Proxier::set_local_frontends(std::vector<Frontend> frontends) {
  std::sort(frontends.begin(), frontends.end());
  frontends.erase(std::unique(frontends.begin(), frontends.end()), frontends.end());
  if (frontends == local_frontends_) return;
  // The services that had or will have one of these frontends are planned again.
  std::set<Ip> addrs;
  for (const auto& f : frontends) addrs.insert(f.addr);
  for (const auto& f : local_frontends_) addrs.insert(f.addr);
  local_frontends_ = std::move(frontends);
  for (const auto& [key, entry] : entries_)
    if (entry.service)
      for (const auto& ip : entry.service->cluster_ips)
        if (addrs.contains(Ip::from(ip))) {
          mark_dirty(key);
          break;
        }
}

std::optional<HealthService> Proxier::health_for(const std::string& service_key) const {
  auto it = entries_.find(service_key);
  if (it == entries_.end() || !it->second.service) return std::nullopt;
  const k8s::Service& svc = *it->second.service;
  if (svc.type != k8s::ServiceType::kLoadBalancer ||
      svc.external_traffic_policy != k8s::TrafficPolicy::kLocal || svc.health_check_node_port <= 0 ||
      svc.health_check_node_port > 65535)
    return std::nullopt;
  std::set<Ip> local;
  for (const auto& [_, slice] : it->second.slices)
    for (const auto& ep : slice.endpoints)
      if (ep.local && ep.ready) local.insert(ep.addr);
  auto slash = service_key.find('/');
  return HealthService{service_key.substr(0, slash), service_key.substr(slash + 1),
                       static_cast<uint32_t>(local.size())};
}

void Proxier::report(bool full, bool ok, std::chrono::duration<double> took, uint64_t conntrack_deleted) {
  if (!observer_) return;
  SyncReport r;
  r.full = full;
  r.ok = ok;
  r.took = took;
  r.at = std::chrono::system_clock::now();
  r.services = state_.services();
  r.frontends = state_.frontends();
  r.endpoints = state_.endpoints();
  r.elements = state_.elements();
  r.chains = state_.chains();
  r.conntrack_deleted = conntrack_deleted;
  if (ok) {
    for (auto t : triggers_)
      r.programming_latencies.push_back(std::chrono::duration<double>(r.at - t).count());
    triggers_.clear();
  }
  if (health_changed_) {
    r.health.emplace();
    for (const auto& [key, h] : health_)
      r.health->emplace(static_cast<uint16_t>(entries_.at(key).service->health_check_node_port), h);
    health_changed_ = false;
  }
  observer_->synced(r);
}

Status Proxier::full_sync() {
  std::map<std::string, ServicePlan> plans;
  for (const auto& [key, entry] : entries_)
    if (entry.service) plans.emplace(key, *plan_for(key));
  PODNET_TRY(existing, kernel_.list_chains());
  auto tx = state_.full_sync(std::move(plans), existing);
  if (auto s = kernel_.apply(tx); !s) return s;
  clear_stale_flows();  // those of a failed partial sync, if any
  return {};
}

void Proxier::clear_stale_flows() {
  if (!conntrack_ || stale_flows_.empty()) return;
  auto deleted = conntrack_->clear(stale_flows_);
  stale_flows_.clear();
  // The rules are right; a failed cleanup only delays UDP clients until their entries expire,
  // so it is counted, not a reason for a full resync.
  if (deleted)
    metrics_.conntrack_deleted += *deleted;
  else
    ++metrics_.conntrack_failures;
}

Status Proxier::partial_sync() {
  // One transaction for all dirty services: merge their diffs in order.
  Transaction merged;
  for (const auto& key : dirty_) {
    auto tx = state_.update(key, plan_for(key));
    merged.before += tx.before;
    merged.chain_rules.insert(merged.chain_rules.end(), tx.chain_rules.begin(), tx.chain_rules.end());
    merged.chain_deletes.insert(merged.chain_deletes.end(), tx.chain_deletes.begin(), tx.chain_deletes.end());
    merged.ops.insert(merged.ops.end(), tx.ops.begin(), tx.ops.end());
    merged.after += tx.after;
    // Kept until a sync succeeds: a failed one is followed by a full sync, which has no diff.
    stale_flows_.insert(stale_flows_.end(), tx.stale_flows.begin(), tx.stale_flows.end());
  }
  metrics_.last_sync_element_ops = merged.ops.size();
  if (auto s = kernel_.apply(merged); !s) return s;
  // Only once the rules no longer lead there: a packet in between would make the entry again.
  clear_stale_flows();
  return {};
}

Result<bool> Proxier::sync(Clock::time_point now) {
  if (!pending()) return false;
  if (metrics_.full_syncs + metrics_.partial_syncs + metrics_.failed_syncs > 0 && now < next_sync_at())
    return false;
  last_sync_ = now;
  const bool full = needs_full_;
  auto start = Clock::now();
  const uint64_t conntrack_before = metrics_.conntrack_deleted;
  Status s = full ? full_sync() : partial_sync();
  auto took = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start);
  // Health checks follow the objects, written or not: a failed sync is retried in full anyway.
  auto update_health = [&](const std::string& key) {
    auto h = health_for(key);
    auto it = health_.find(key);
    if (h && (it == health_.end() || it->second != *h)) {
      health_[key] = *h;
      health_changed_ = true;
    } else if (!h && it != health_.end()) {
      health_.erase(it);
      health_changed_ = true;
    }
  };
  if (full) {
    for (auto it = health_.begin(); it != health_.end();)
      if (!entries_.count(it->first)) {
        it = health_.erase(it);
        health_changed_ = true;
      } else {
        ++it;
      }
    for (const auto& [key, _] : entries_) update_health(key);
  } else {
    for (const auto& key : dirty_) update_health(key);
  }
  dirty_.clear();
  if (!s) {
    // The kernel may hold part of what we meant; only a full sync knows the result again.
    needs_full_ = true;
    ++metrics_.failed_syncs;
    report(full, false, took, 0);
    return std::unexpected(wrap(s.error(), full ? "full proxy sync" : "partial proxy sync"));
  }
  needs_full_ = false;
  queued_reported_ = false;
  if (full) {
    ++metrics_.full_syncs;
    metrics_.last_full_sync = took;
  } else {
    ++metrics_.partial_syncs;
    metrics_.last_partial_sync = took;
  }
  metrics_.services = state_.services();
  metrics_.frontends = state_.frontends();
  metrics_.endpoints = state_.endpoints();
  metrics_.chains = state_.chains();
  report(full, true, took, metrics_.conntrack_deleted - conntrack_before);
  return true;
}

}  // namespace podnet::proxy
