// The proxy's desired state (one ServicePlan per Service) and the transactions that move the kernel
// to it: everything on a full sync, only one service's own elements and chains on a partial one.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "proxy/ruleset.h"
#include "proxy/types.h"

namespace podnet::proxy {

class ProxyState;

// Chain names found in the kernel, by family and table (podnet's base and shard tables only).
using ExistingChains = std::map<Family, std::map<std::string, std::vector<std::string>>>;

// What one sync writes, in order: `before` (nft text: the skeleton and affinity sets the batch
// needs; empty for most partial syncs), one atomic libnftnl batch, and `after` (nft text: what
// nothing refers to any more). The batch: when `full`, flush every set and map; create the
// `chain_rules` chains and write their rule; when `full`, rewrite the hooked nat rules and add all
// of full's elements; `ops`; delete `chain_deletes`.
// The frontends with session affinity of one timeout, in one shard table of one family.
struct AffinityGroup {
  Family family = Family::kIPv4;
  uint32_t shard = 0;
  uint32_t timeout = 0;
  auto operator<=>(const AffinityGroup&) const = default;
};

struct Transaction {
  std::string before;
  std::vector<ChainKey> chain_rules;    // shared chains created or rewritten
  std::vector<ChainKey> chain_deletes;  // shared chains nothing jumps to any more
  const ProxyState* full = nullptr;
  std::vector<ElementOp> ops;
  std::string after;
  // Not for the kernel's nftables: UDP conntrack entries to delete once the batch is in.
  std::vector<StaleFlow> stale_flows;

  bool empty() const {
    return before.empty() && chain_rules.empty() && !full && ops.empty() && chain_deletes.empty() &&
           after.empty();
  }
  // The batch as nft text, in kernel order (tests, debugging).
  std::string elements_text(const RulesetConfig& cfg) const;
};

class ProxyState {
 public:
  explicit ProxyState(RulesetConfig cfg = {}) : cfg_(std::move(cfg)) {}

  // Replaces the whole state. `existing_chains` are the chains found in the kernel's tables, so
  // chains (and shard tables) left by an earlier run are removed once nothing jumps to them.
  Transaction full_sync(std::map<std::string, ServicePlan> plans, const ExistingChains& existing_chains = {});
  // Sets one service's plan (nullopt removes the service) and returns only what that changes.
  Transaction update(const std::string& service_key, std::optional<ServicePlan> plan);

  // What a full sync empties before adding every element: all sets and maps the state uses.
  std::vector<ElementOp> full_flushes() const;
  // Every element of the state, as add operations, sets in a stable order.
  void for_each_element(const std::function<void(const ElementOp&)>& fn) const;

  const RulesetConfig& config() const { return cfg_; }
  size_t services() const { return plans_.size(); }
  size_t frontends() const { return frontends_; }
  size_t endpoints() const { return endpoints_; }
  size_t chains() const { return chain_refs_.size(); }
  // Elements in the sets and maps: one per frontend (service-ips or no-endpoints), endpoints,
  // hairpin entries, affinity frontends (not the sticky entries the kernel adds).
  size_t elements() const { return frontends_ + endpoints_ + hairpin_refs_.size() + affinity_frontends_; }

 private:
  // Reference counts of what several services share; a transition 0<->1 adds or removes it.
  void count(const ServicePlan& plan, uint32_t shard, int delta);

  RulesetConfig cfg_;
  std::map<std::string, ServicePlan> plans_;
  std::map<ChainKey, uint32_t> chain_refs_;
  std::map<AffinityGroup, uint32_t> affinity_refs_;
  std::map<Ip, uint32_t> hairpin_refs_;
  size_t frontends_ = 0, endpoints_ = 0, affinity_frontends_ = 0;
};

// UDP flows a change from `old_plan` to `new_plan` leaves pointing at the wrong place: removed
// backends per frontend, and frontends that gain their first backend.
std::vector<StaleFlow> stale_udp_flows(const ServicePlan& old_plan, const ServicePlan& new_plan);

// The elements one service in `shard` contributes (add operations), hairpin excluded (shared
// between services).
std::vector<ElementOp> service_elements(const ServicePlan& plan, uint32_t shard = 0);

}  // namespace podnet::proxy
