// The nft text of podnet's proxy tables: the fixed skeleton (sets, maps, hooked chains), the shared
// endpoint-picking chains, and single element operations. Only podnet's own tables are named.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>

#include "proxy/types.h"

namespace podnet::proxy {

struct RulesetConfig {
  std::string table = "podnet-proxy";  // same name in the ip and ip6 families
  uint32_t masquerade_mark = 0x4000;   // packet mark bit asking nat-postrouting to masquerade
  // Services are spread over this many tables ("podnet-proxy-0" ...), each with its own hooked nat
  // chains, service-ips verdict map, endpoints map and shared chains; the base table keeps what is
  // per packet or per node (no-endpoints rejects, hairpin, masquerade). The kernel re-validates every
  // element of every verdict map of a table a transaction adds a `goto` to, so a change of endpoint
  // count walks 1/shards of the services (docs/proxy.md). 1 = everything in the base table.
  uint32_t shards = 16;
};

// Maximum elements per set. The kernel sizes a set's hash table from this when the set is created:
// without it, filling a set of 10^6 elements spends most of its time growing the table (measured:
// 4.1 s instead of 1.9 s at 100,000 services). Raising it later only raises the limit.
struct SetCapacities {
  uint32_t service_ips = 0, no_endpoints = 0, endpoints = 0, hairpin = 0;
};
// Room to grow: twice what is needed now, rounded up to a power of two, at least 8192.
uint32_t capacity_for(size_t elements);

// The shard of a service (a stable hash of "namespace/name") and the name of a shard's table.
uint32_t shard_of(const std::string& service_key, const RulesetConfig& cfg);
std::string shard_table(uint32_t shard, const RulesetConfig& cfg);
// Whether `table` is one of the shard tables of `cfg.table` ("podnet-proxy-<n>"), and which.
std::optional<uint32_t> parse_shard_table(const std::string& table, const RulesetConfig& cfg);
// The table an element operation is about.
std::string table_of(const ElementOp& op, const RulesetConfig& cfg);

// Create the tables if missing and (re)write their hooked chains, so they are safe on tables left
// by a previous run: existing set and map elements are kept until the element batch replaces them.
// The base table: no-endpoints, hairpin, the filter chains and (when sharded) nat-postrouting's
// masquerade rules. With one shard, base and shard are the same table.
std::string base_skeleton_text(Family f, const RulesetConfig& cfg, const SetCapacities& capacities = {});
// A shard table: service-ips, endpoints, the hooked nat chains.
std::string shard_skeleton_text(Family f, uint32_t shard, const RulesetConfig& cfg,
                                const SetCapacities& capacities = {});
// The hooked nat chains' rule, `frontend vmap @service-ips`, as nft text (tests, debugging); the
// batch writes it with libnftnl, in the same transaction as the elements of a full sync.
std::string hook_rules_text(Family f, uint32_t shard, const RulesetConfig& cfg);
// A shared chain's creation and rule as nft text: what the element batch writes with libnftnl
// (nft 1.0.6 cannot add these rules once the endpoints map is in the kernel; see ruleset.cpp).
std::string chain_text(const ChainKey& chain, const RulesetConfig& cfg);
std::string chain_rule_text(const ChainKey& chain, const RulesetConfig& cfg);
std::string delete_chain_text(Family f, const std::string& table, const std::string& chain);
// The set of frontends with session affinity of `timeout` seconds and the map the kernel fills.
std::string affinity_group_text(Family f, uint32_t shard, uint32_t timeout, const RulesetConfig& cfg);
std::string delete_affinity_group_text(Family f, uint32_t shard, uint32_t timeout, const RulesetConfig& cfg);
// A shard's nat-postrouting: records affinity for each timeout group (the sticky maps live with the
// chains that read them); with one shard it also masquerades marked and hairpin packets.
std::string postrouting_text(Family f, uint32_t shard, const std::set<uint32_t>& affinity_timeouts,
                             const RulesetConfig& cfg);

std::string set_name(SetId set, uint32_t timeout);
// "add element ip podnet-proxy endpoints { 10.96.0.1 . tcp . 80 . 0 : 10.1.0.1 . 8080 }"
std::string element_text(const ElementOp& op, const RulesetConfig& cfg);

}  // namespace podnet::proxy
