// Desired state bookkeeping and diffing. A partial sync costs O(size of the changed service): the
// diff compares one service's old and new elements, and shared objects are reference counted.
#include "proxy/state.h"

#include <algorithm>
#include <array>
#include <optional>
#include <tuple>

namespace podnet::proxy {
namespace {

// Elements are identified by set and key; the value (backend, chain) may change under a key.
auto identity(const ElementOp& op) {
  return std::tie(op.set, op.timeout, op.key, op.index);
}
bool element_less(const ElementOp& a, const ElementOp& b) {
  return identity(a) < identity(b);
}

std::set<Ip> backend_ips(const ServicePlan& plan) {
  return std::set<Ip>(plan.local_backends.begin(), plan.local_backends.end());
}

// Keeps each surviving backend at the index it had, so that one endpoint change rewrites one
// `endpoints` element instead of shifting all the others. Newcomers fill the free indices.
void keep_backend_indices(const ServicePlan& old_plan, ServicePlan& plan) {
  for (auto& fp : plan.frontends) {
    auto old = std::lower_bound(
        old_plan.frontends.begin(), old_plan.frontends.end(), fp,
        [](const FrontendPlan& a, const FrontendPlan& b) { return a.frontend < b.frontend; });
    if (old == old_plan.frontends.end() || old->frontend != fp.frontend || old->backends.empty()) continue;
    const size_t n = fp.backends.size();
    std::vector<std::optional<Backend>> slots(n);
    std::vector<Backend> newcomers;
    std::set<Backend> placed;
    for (size_t i = 0; i < old->backends.size() && i < n; ++i)
      if (std::binary_search(fp.backends.begin(), fp.backends.end(), old->backends[i])) {
        slots[i] = old->backends[i];
        placed.insert(old->backends[i]);
      }
    for (const auto& b : fp.backends)
      if (!placed.count(b)) newcomers.push_back(b);
    auto next = newcomers.begin();
    for (size_t i = 0; i < n; ++i) fp.backends[i] = slots[i] ? *slots[i] : *next++;
  }
}

template <class K>
std::set<K> keys(const std::map<K, uint32_t>& m) {
  std::set<K> out;
  for (const auto& [k, _] : m) out.insert(k);
  return out;
}

std::set<uint32_t> timeouts_of(const std::set<AffinityGroup>& groups, Family f, uint32_t shard) {
  std::set<uint32_t> out;
  for (const auto& g : groups)
    if (g.family == f && g.shard == shard) out.insert(g.timeout);
  return out;
}

ElementOp hairpin_op(const Ip& ip, ElementOp::Kind kind) {
  ElementOp op;
  op.kind = kind;
  op.set = SetId::kHairpin;
  op.key.addr = ip;
  return op;
}

// Text for the shared objects that appear (`before`) and disappear (`after`) between two states.
void shared_object_changes(Transaction& tx, const RulesetConfig& cfg, const std::set<ChainKey>& old_chains,
                           const std::set<ChainKey>& new_chains, const std::set<AffinityGroup>& old_groups,
                           const std::set<AffinityGroup>& new_groups) {
  std::set<std::pair<Family, uint32_t>> tables;  // shard tables with affinity before or after
  for (const auto& g : old_groups) tables.insert({g.family, g.shard});
  for (const auto& g : new_groups) tables.insert({g.family, g.shard});
  for (const auto& [f, shard] : tables) {
    auto old_t = timeouts_of(old_groups, f, shard), new_t = timeouts_of(new_groups, f, shard);
    if (old_t == new_t) continue;
    std::set<uint32_t> both = old_t;
    both.insert(new_t.begin(), new_t.end());
    for (uint32_t t : new_t)
      if (!old_t.count(t)) tx.before += affinity_group_text(f, shard, t, cfg);
    tx.before += postrouting_text(f, shard, both, cfg);
    tx.after += postrouting_text(f, shard, new_t, cfg);
  }
  for (const auto& key : new_chains)
    if (!old_chains.count(key) && !is_prepared(key.spec)) tx.chain_rules.push_back(key);
  // Variants go before the plain chain they go to (they sort after it).
  for (auto it = old_chains.rbegin(); it != old_chains.rend(); ++it)
    if (!new_chains.count(*it) && !is_prepared(it->spec)) tx.chain_deletes.push_back(*it);
  // Groups go after the chains that looked them up.
  for (const auto& g : old_groups)
    if (!new_groups.count(g)) tx.after += delete_affinity_group_text(g.family, g.shard, g.timeout, cfg);
}

}  // namespace

std::vector<ElementOp> service_elements(const ServicePlan& plan, uint32_t shard) {
  std::vector<ElementOp> out;
  for (const auto& fp : plan.frontends) {
    ElementOp op;
    op.shard = shard;
    op.key = fp.frontend;
    if (fp.backends.empty()) {
      op.set = SetId::kNoEndpoints;
      out.push_back(op);
      continue;
    }
    op.set = SetId::kServiceIps;
    op.chain = fp.chain();
    out.push_back(op);
    op.chain = {};
    op.set = SetId::kEndpoints;
    for (uint32_t i = 0; i < fp.backends.size(); ++i) {
      op.index = i;
      op.backend = fp.backends[i];
      out.push_back(op);
    }
    if (fp.affinity_timeout) {
      ElementOp aff;
      aff.set = SetId::kAffinity;
      aff.timeout = fp.affinity_timeout;
      aff.key = fp.frontend;
      aff.shard = shard;
      out.push_back(aff);
    }
  }
  return out;
}

std::vector<StaleFlow> stale_udp_flows(const ServicePlan& old_plan, const ServicePlan& new_plan) {
  constexpr uint8_t kUdp = 17;
  auto find = [](const ServicePlan& plan, const Frontend& fe) -> const FrontendPlan* {
    auto it = std::lower_bound(plan.frontends.begin(), plan.frontends.end(), fe,
                               [](const FrontendPlan& a, const Frontend& b) { return a.frontend < b; });
    return it != plan.frontends.end() && it->frontend == fe ? &*it : nullptr;
  };
  std::vector<StaleFlow> out;
  for (const auto& old_fp : old_plan.frontends) {
    if (old_fp.frontend.proto != kUdp) continue;
    const FrontendPlan* now = find(new_plan, old_fp.frontend);
    for (const auto& b : old_fp.backends)
      // Backends are in slot order here (keep_backend_indices), not sorted.
      if (!now || std::find(now->backends.begin(), now->backends.end(), b) == now->backends.end())
        out.push_back({old_fp.frontend, b});
  }
  for (const auto& fp : new_plan.frontends) {
    if (fp.frontend.proto != kUdp || fp.backends.empty()) continue;
    const FrontendPlan* before = find(old_plan, fp.frontend);
    if (!before || before->backends.empty()) out.push_back({fp.frontend, std::nullopt});
  }
  return out;
}

void ProxyState::count(const ServicePlan& plan, uint32_t shard, int delta) {
  for (const auto& fp : plan.frontends) {
    frontends_ += delta;
    endpoints_ += delta * static_cast<int>(fp.backends.size());
    if (fp.backends.empty()) continue;
    Family f = fp.frontend.addr.family();
    auto bump = [delta](auto& refs, const auto& key) {
      if ((refs[key] += delta) == 0) refs.erase(key);
    };
    bump(chain_refs_, ChainKey{f, shard, fp.chain()});
    if (fp.chain() != fp.chain().plain()) bump(chain_refs_, ChainKey{f, shard, fp.chain().plain()});
    if (fp.affinity_timeout) {
      bump(affinity_refs_, AffinityGroup{f, shard, fp.affinity_timeout});
      affinity_frontends_ += delta;
    }
  }
  for (const Ip& ip : backend_ips(plan))
    if ((hairpin_refs_[ip] += delta) == 0) hairpin_refs_.erase(ip);
}

Transaction ProxyState::full_sync(std::map<std::string, ServicePlan> plans,
                                  const ExistingChains& existing_chains) {
  plans_ = std::move(plans);
  chain_refs_.clear();
  affinity_refs_.clear();
  hairpin_refs_.clear();
  frontends_ = endpoints_ = affinity_frontends_ = 0;
  const uint32_t shards = std::max<uint32_t>(cfg_.shards, 1);
  for (const auto& [key, plan] : plans_) count(plan, shard_of(key, cfg_), +1);

  Transaction tx;
  auto groups = keys(affinity_refs_);
  // Elements per family and table: the base table's sets, then each shard's.
  std::map<Family, SetCapacities> base;
  std::map<std::pair<Family, uint32_t>, SetCapacities> per_shard;
  {
    std::map<Family, std::array<size_t, 2>> base_counts;                        // no-endpoints, hairpin
    std::map<std::pair<Family, uint32_t>, std::array<size_t, 2>> shard_counts;  // service-ips, endpoints
    for (const auto& [key, plan] : plans_) {
      const uint32_t shard = shard_of(key, cfg_);
      for (const auto& fp : plan.frontends) {
        const Family f = fp.frontend.addr.family();
        if (fp.backends.empty()) {
          ++base_counts[f][0];
        } else {
          auto& c = shard_counts[{f, shard}];
          ++c[0];
          c[1] += fp.backends.size();
        }
      }
    }
    for (const auto& [ip, _] : hairpin_refs_) ++base_counts[ip.family()][1];
    for (Family f : kFamilies) {
      base[f].no_endpoints = capacity_for(base_counts[f][0]);
      base[f].hairpin = capacity_for(base_counts[f][1]);
      for (uint32_t shard = 0; shard < shards; ++shard) {
        auto& c = shard_counts[{f, shard}];
        per_shard[{f, shard}].service_ips = capacity_for(c[0]);
        per_shard[{f, shard}].endpoints = capacity_for(c[1]);
      }
    }
  }
  for (Family f : kFamilies) {
    tx.before += base_skeleton_text(f, cfg_, base[f]);
    for (uint32_t shard = 0; shard < shards; ++shard) {
      tx.before += shard_skeleton_text(f, shard, cfg_, per_shard[{f, shard}]);
      for (uint32_t t : timeouts_of(groups, f, shard)) tx.before += affinity_group_text(f, shard, t, cfg_);
      tx.before += postrouting_text(f, shard, timeouts_of(groups, f, shard), cfg_);
    }
  }

  std::set<ChainKey> chains = keys(chain_refs_);
  for (Family f : kFamilies)
    for (uint32_t shard = 0; shard < shards; ++shard)
      for (uint32_t n = 1; n <= kPreparedEndpointCounts; ++n)
        for (bool masquerade : {false, true}) chains.insert({f, shard, ChainSpec{n, masquerade, 0}});
  // (family, table, chain) of what the kernel has and of what this state wants.
  using Name = std::tuple<Family, std::string, std::string>;
  std::set<Name> existing, wanted;
  for (const auto& [f, tables] : existing_chains)
    for (const auto& [table, names] : tables)
      for (const auto& name : names) existing.insert({f, table, name});
  for (const auto& key : chains) {
    Name name{key.family, shard_table(key.shard, cfg_), key.spec.name()};
    // Same name, same rule (the name spells out what the rule depends on): an existing chain is
    // kept, because rewriting a rule that uses the big map costs a kernel walk of the map.
    if (!existing.count(name)) tx.chain_rules.push_back(key);
    wanted.insert(name);
  }
  for (Family f : kFamilies) {
    for (const char* chain : {"nat-postrouting", "filter-input", "filter-forward", "filter-output"})
      wanted.insert({f, cfg_.table, chain});
    for (uint32_t shard = 0; shard < shards; ++shard)
      for (const char* chain : {"nat-prerouting", "nat-output", "nat-postrouting"})
        wanted.insert({f, shard_table(shard, cfg_), chain});
  }
  std::string reset;  // tables of another layout, replaced before anything is written
  for (const auto& [f, tables] : existing_chains)
    for (const auto& [table, names] : tables) {
      const std::string qualified = std::string(nft_family(f)) + " " + table;
      if (table != cfg_.table) {
        auto shard = parse_shard_table(table, cfg_);
        if (!shard) continue;  // not podnet's
        if (shards == 1 || *shard >= shards) {
          // A shard table of a run with more shards: its services are in this run's tables now.
          tx.after += "delete table " + qualified + "\n";
          continue;
        }
      } else if (shards > 1 && std::find(names.begin(), names.end(), "nat-prerouting") != names.end()) {
        // The base table of a one-table run: its service maps and chains are not part of this layout.
        reset += "delete table " + qualified + "\n";
        continue;
      }
      for (const auto& name : names)
        if (!wanted.count({f, table, name})) tx.after += delete_chain_text(f, table, name);
    }
  tx.before = reset + tx.before;
  tx.full = this;
  return tx;
}

Transaction ProxyState::update(const std::string& service_key, std::optional<ServicePlan> plan) {
  Transaction tx;
  const uint32_t shard = shard_of(service_key, cfg_);
  auto it = plans_.find(service_key);
  if (plan && it != plans_.end()) keep_backend_indices(it->second, *plan);
  const ServicePlan empty;
  const ServicePlan& old_plan = it == plans_.end() ? empty : it->second;
  const ServicePlan& new_plan = plan ? *plan : empty;
  if (old_plan == new_plan) {
    if (!plan && it != plans_.end()) plans_.erase(it);
    return tx;
  }

  auto old_chains = keys(chain_refs_);
  auto old_groups = keys(affinity_refs_);
  tx.stale_flows = stale_udp_flows(old_plan, new_plan);
  auto old_hairpin = backend_ips(old_plan);
  auto new_hairpin = backend_ips(new_plan);

  // Elements: delete what disappeared or changed value, then add what is new or changed.
  auto before = service_elements(old_plan, shard), after = service_elements(new_plan, shard);
  std::sort(before.begin(), before.end(), element_less);
  std::sort(after.begin(), after.end(), element_less);
  std::vector<ElementOp> adds;
  auto b = before.begin(), a = after.begin();
  while (b != before.end() || a != after.end()) {
    if (a == after.end() || (b != before.end() && element_less(*b, *a))) {
      tx.ops.push_back(*b++);
      tx.ops.back().kind = ElementOp::Kind::kDelete;
    } else if (b == before.end() || element_less(*a, *b)) {
      adds.push_back(*a++);
    } else {
      if (!(*a == *b)) {
        tx.ops.push_back(*b);
        tx.ops.back().kind = ElementOp::Kind::kDelete;
        adds.push_back(*a);
      }
      ++a, ++b;
    }
  }

  count(old_plan, shard, -1);
  count(new_plan, shard, +1);
  for (const Ip& ip : old_hairpin)
    if (!hairpin_refs_.count(ip)) tx.ops.push_back(hairpin_op(ip, ElementOp::Kind::kDelete));
  for (const Ip& ip : new_hairpin)
    if (hairpin_refs_[ip] == 1 && !old_hairpin.count(ip))
      adds.push_back(hairpin_op(ip, ElementOp::Kind::kAdd));

  // The kernel fills the sticky maps; an entry may name an endpoint that is gone. Entries cannot be
  // found by value, so the group's map is flushed: clients of that timeout group re-pick once.
  std::set<AffinityGroup> flushed;
  for (const auto& old_fp : old_plan.frontends) {
    if (!old_fp.affinity_timeout) continue;
    auto nf = std::find_if(new_plan.frontends.begin(), new_plan.frontends.end(),
                           [&](const FrontendPlan& p) { return p.frontend == old_fp.frontend; });
    bool lost = nf == new_plan.frontends.end() ||
                std::any_of(old_fp.backends.begin(), old_fp.backends.end(), [&](const Backend& b) {
                  return std::find(nf->backends.begin(), nf->backends.end(), b) == nf->backends.end();
                });
    auto group = AffinityGroup{old_fp.frontend.addr.family(), shard, old_fp.affinity_timeout};
    if (lost && affinity_refs_.count(group) && flushed.insert(group).second) {
      ElementOp op;
      op.kind = ElementOp::Kind::kFlush;
      op.set = SetId::kSticky;
      op.timeout = group.timeout;
      op.shard = shard;
      op.key.addr.v6 = group.family == Family::kIPv6;
      tx.ops.push_back(op);
    }
  }
  tx.ops.insert(tx.ops.end(), adds.begin(), adds.end());

  shared_object_changes(tx, cfg_, old_chains, keys(chain_refs_), old_groups, keys(affinity_refs_));
  if (plan)
    plans_[service_key] = std::move(*plan);
  else
    plans_.erase(service_key);
  return tx;
}

void ProxyState::for_each_element(const std::function<void(const ElementOp&)>& fn) const {
  for (const auto& [key, plan] : plans_)
    for (const auto& op : service_elements(plan, shard_of(key, cfg_))) fn(op);
  for (const auto& [ip, _] : hairpin_refs_) fn(hairpin_op(ip, ElementOp::Kind::kAdd));
}

std::vector<ElementOp> ProxyState::full_flushes() const {
  std::vector<ElementOp> out;
  auto flush = [&](Family f, uint32_t shard, SetId set, uint32_t timeout) {
    ElementOp op;
    op.kind = ElementOp::Kind::kFlush;
    op.set = set;
    op.timeout = timeout;
    op.shard = shard;
    op.key.addr.v6 = f == Family::kIPv6;
    out.push_back(op);
  };
  for (Family f : kFamilies) {
    for (uint32_t shard = 0; shard < std::max<uint32_t>(cfg_.shards, 1); ++shard)
      for (SetId set : {SetId::kServiceIps, SetId::kEndpoints}) flush(f, shard, set, 0);
    for (SetId set : {SetId::kNoEndpoints, SetId::kHairpin}) flush(f, 0, set, 0);
  }
  for (const auto& [g, _] : affinity_refs_) flush(g.family, g.shard, SetId::kAffinity, g.timeout);
  return out;
}

std::string Transaction::elements_text(const RulesetConfig& cfg) const {
  std::string s;
  if (full)
    for (const auto& op : full->full_flushes()) s += element_text(op, cfg);
  for (const auto& key : chain_rules) s += chain_text(key, cfg) + chain_rule_text(key, cfg);
  if (full) {
    for (Family f : kFamilies)
      for (uint32_t shard = 0; shard < std::max<uint32_t>(cfg.shards, 1); ++shard)
        s += hook_rules_text(f, shard, cfg);
    full->for_each_element([&](const ElementOp& op) { s += element_text(op, cfg); });
  }
  for (const auto& op : ops) s += element_text(op, cfg);
  for (const auto& key : chain_deletes)
    s += delete_chain_text(key.family, shard_table(key.shard, cfg), key.spec.name());
  return s;
}

}  // namespace podnet::proxy
