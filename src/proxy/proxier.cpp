// Change tracking for the proxy: an object change marks its Service dirty; a sync re-plans only
// dirty Services and writes their diffs as one transaction.
#include "proxy/proxier.h"

#include <algorithm>
#include <vector>

namespace podnet::proxy {
namespace {

std::string key_of(const std::string& ns, const std::string& name) {
  return ns + "/" + name;
}

}  // namespace

void Proxier::upsert_service(k8s::Service service) {
  auto key = key_of(service.meta.namespace_, service.meta.name);
  service.meta = {};  // the key says all the proxy needs of it
  entries_[key].service = std::move(service);
  dirty_.insert(key);
}

void Proxier::delete_service(const std::string& ns, const std::string& name) {
  auto key = key_of(ns, name);
  auto it = entries_.find(key);
  if (it == entries_.end() || !it->second.service) return;
  it->second.service.reset();
  if (it->second.slices.empty()) entries_.erase(it);
  dirty_.insert(key);
}

void Proxier::upsert_slice(const k8s::EndpointSlice& slice) {
  if (slice.service_name().empty()) return;  // not a Service's slice
  auto key = key_of(slice.meta.namespace_, slice.service_name());
  auto& slices = entries_[key].slices;
  auto info = summarize_slice(slice, opts_.node.name);
  auto it =
      std::find_if(slices.begin(), slices.end(), [&](const auto& s) { return s.first == slice.meta.name; });
  if (it != slices.end())
    it->second = std::move(info);
  else
    slices.emplace_back(slice.meta.name, std::move(info));
  dirty_.insert(key);
}

void Proxier::delete_slice(const k8s::EndpointSlice& slice) {
  auto key = key_of(slice.meta.namespace_, slice.service_name());
  auto entry = entries_.find(key);
  if (entry == entries_.end()) return;
  auto& slices = entry->second.slices;
  auto it =
      std::find_if(slices.begin(), slices.end(), [&](const auto& s) { return s.first == slice.meta.name; });
  if (it == slices.end()) return;
  slices.erase(it);
  if (slices.empty() && !entry->second.service) entries_.erase(entry);
  dirty_.insert(key);
}

std::optional<ServicePlan> Proxier::plan_for(const std::string& service_key) const {
  auto it = entries_.find(service_key);
  if (it == entries_.end() || !it->second.service) return std::nullopt;
  std::vector<const SliceInfo*> slices;
  for (const auto& [_, info] : it->second.slices) slices.push_back(&info);
  return plan_service(*it->second.service, slices, opts_.node);
}

Status Proxier::full_sync() {
  std::map<std::string, ServicePlan> plans;
  for (const auto& [key, entry] : entries_)
    if (entry.service) plans.emplace(key, *plan_for(key));
  PODNET_TRY(existing, kernel_.list_chains());
  auto tx = state_.full_sync(std::move(plans), existing);
  return kernel_.apply(tx);
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
    merged.stale_flows.insert(merged.stale_flows.end(), tx.stale_flows.begin(), tx.stale_flows.end());
  }
  metrics_.last_sync_element_ops = merged.ops.size();
  if (auto s = kernel_.apply(merged); !s) return s;
  // Only once the rules no longer lead there: a packet in between would make the entry again.
  if (conntrack_ && !merged.stale_flows.empty()) {
    auto deleted = conntrack_->clear(merged.stale_flows);
    // The rules are right; a failed cleanup only delays UDP clients until their entries expire,
    // so it is counted, not a reason for a full resync.
    if (deleted)
      metrics_.conntrack_deleted += *deleted;
    else
      ++metrics_.conntrack_failures;
  }
  return {};
}

Result<bool> Proxier::sync(Clock::time_point now) {
  if (!pending()) return false;
  if (metrics_.full_syncs + metrics_.partial_syncs + metrics_.failed_syncs > 0 && now < next_sync_at())
    return false;
  last_sync_ = now;
  const bool full = needs_full_;
  auto start = Clock::now();
  Status s = full ? full_sync() : partial_sync();
  auto took = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start);
  dirty_.clear();
  if (!s) {
    // The kernel may hold part of what we meant; only a full sync knows the result again.
    needs_full_ = true;
    ++metrics_.failed_syncs;
    return std::unexpected(wrap(s.error(), full ? "full proxy sync" : "partial proxy sync"));
  }
  needs_full_ = false;
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
  return true;
}

}  // namespace podnet::proxy
