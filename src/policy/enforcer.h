// NetworkPolicy enforcement state of one node: the pods, namespaces and policies the informers
// deliver (decoded leniently: a bad object is logged and skipped, the rest stays enforced), the
// Planner, and the last state written. sync() plans only what changed since the last sync and
// writes only that difference; the first sync of a process (and one after a failed write) replaces
// the table whole, in one transaction.
// Not thread-safe: the caller serialises (the feed holds one lock).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <iterator>
#include <map>
#include <optional>
#include <string>

#include "policy/kernel.h"
#include "policy/planner.h"
#include "policy/ruleset.h"

namespace podnet::policy {

struct SyncReport {
  bool full = false;
  size_t commands_bytes = 0;  // nft text written (0: nothing changed)
  size_t elements = 0;        // elements in the table after the sync
  size_t classes = 0;         // per-class chains
  std::chrono::microseconds plan{0}, apply{0};
};

struct EnforcerMetrics {
  uint64_t syncs = 0, full_syncs = 0, failed_syncs = 0, skipped_objects = 0;
  double last_sync_seconds = 0, sync_seconds_sum = 0;
  size_t elements = 0, policies = 0, local_pods = 0;
};

// The pod runner's waits for a new local pod's policy (PolicyFeed::admit_local_pod).
struct AdmitMetrics {
  // Upper bounds (seconds) of the wait histogram's buckets; the last bucket (+Inf) is `admits`.
  static constexpr double kBuckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  uint64_t admits = 0, timeouts = 0;
  uint64_t buckets[std::size(kBuckets)] = {};  // cumulative: waits <= kBuckets[i]
  uint64_t syncs = 0;                          // syncs that admitted at least one waiting pod
  double seconds_sum = 0, max_seconds = 0;
  void observe(double seconds) {
    ++admits;
    seconds_sum += seconds;
    max_seconds = std::max(max_seconds, seconds);
    for (size_t i = 0; i < std::size(kBuckets); ++i)
      if (seconds <= kBuckets[i]) ++buckets[i];
  }
  uint64_t denials_logged = 0, log_overruns = 0;  // the denied-connection log (NFLOG)
};

class Enforcer {
 public:
  Enforcer(PolicyKernel& kernel, std::string node, RulesetConfig cfg)
      : kernel_(kernel), node_(std::move(node)), cfg_(std::move(cfg)) {}

  // Each returns false (and logs) when the object cannot be decoded; a policy that fails is
  // dropped from the set enforced (as if deleted), a pod or namespace keeps its last good state.
  bool upsert_pod(const boost::json::value& object);
  void delete_pod(const boost::json::value& last_known);
  bool upsert_namespace(const boost::json::value& object);
  void delete_namespace(const boost::json::value& last_known);
  bool upsert_policy(const boost::json::value& object);
  void delete_policy(const boost::json::value& last_known);
  void set_own_ranges(std::vector<IpPrefix> ranges);
  // The pod runner's word on a local pod it is starting: its API object and the addresses CNI ADD
  // gave it, before the API has them (status.podIPs is written after the sandbox). Kept for that
  // pod (name and uid) until an API object carries these addresses or the pod is deleted, so a
  // late informer event without addresses does not make the pod pending again.
  bool admit_pod(const boost::json::value& object, std::vector<IpAddress> ips);

  bool pending() const { return dirty_; }
  Result<SyncReport> sync();

  const TableState& state() const { return planner_.state(); }
  // What a whole plan of the current inputs gives (same class numbers): the incremental state
  // must equal it after every sync (tests).
  TableState full_replan() const {
    Planner p = planner_;
    return p.plan({.node = node_,
                   .own_ranges = own_ranges_,
                   .pods = &pods_,
                   .namespaces = &namespaces_,
                   .policies = &policies_});
  }
  const EnforcerMetrics& metrics() const { return metrics_; }
  // The policies selecting a local pod address ("" when none): for denial logs.
  std::string selected_by(const std::string& ip) const;
  // "namespace/name" of the pod (policy subject) holding an address, "" when none: for denial logs.
  std::string pod_at(const IpAddress& ip) const;

  // Typed entry points (tests, benchmarks).
  void put_pod(Pod p);
  void put_namespace(Namespace n);
  void put_policy(NetworkPolicy np);

 private:
  PolicyKernel& kernel_;
  std::string node_;
  RulesetConfig cfg_;
  Planner planner_;
  std::map<std::string, Pod> pods_;
  std::map<std::string, Namespace> namespaces_;
  std::map<std::string, NetworkPolicy> policies_;
  std::vector<IpPrefix> own_ranges_;
  struct LocalHint {
    std::string uid;
    std::vector<IpAddress> ips;
  };
  std::map<std::string, LocalHint> hints_;  // by pod key (admit_pod)
  PlanChanges changes_;                     // keys changed since the last plan
  bool planned_ = false;
  bool written_ = false;  // the planner's state is what the kernel has
  std::vector<IpPrefix> written_ranges_;
  bool dirty_ = true;
  EnforcerMetrics metrics_;
};

}  // namespace podnet::policy
