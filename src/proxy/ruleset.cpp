// nft text for the proxy's tables (shape and measurements: docs/proxy.md): a verdict map from
// frontend to shared chain svc-nN, which dnats through one big `endpoints` map (frontend . numgen).
#include "proxy/ruleset.h"

#include <cstdio>

namespace podnet::proxy {
namespace {

struct Words {
  const char* fam;     // "ip"
  const char* addr;    // "ip" / "ip6" payload protocol
  const char* addr_t;  // "ipv4_addr"
};
Words words(Family f) {
  return f == Family::kIPv4 ? Words{"ip", "ip", "ipv4_addr"} : Words{"ip6", "ip6", "ipv6_addr"};
}

std::string hex(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%x", v);
  return buf;
}

std::string prefix(Family f, const RulesetConfig& cfg) {
  return std::string(nft_family(f)) + " " + cfg.table;
}

const char* proto_name(uint8_t p) {
  return p == 6 ? "tcp" : p == 17 ? "udp" : p == 132 ? "sctp" : "0";
}

std::string frontend_text(const Frontend& fe) {
  return fe.addr.str() + " . " + proto_name(fe.proto) + " . " + std::to_string(fe.port);
}

std::string size_clause(uint32_t n) {
  return n ? " size " + std::to_string(n) + ";" : std::string();
}

// nat-postrouting's rules that do not depend on the services: masquerade what a chain marked, and
// a pod reaching itself through its service.
std::string masquerade_rules(Family f, const RulesetConfig& cfg) {
  const Words w = words(f);
  const std::string head = "add rule " + prefix(f, cfg) + " nat-postrouting ";
  std::string s = head + "meta mark & " + hex(cfg.masquerade_mark) + " != 0 meta mark set meta mark & " +
                  hex(~cfg.masquerade_mark) + " masquerade\n";
  // A pod reaching itself through its service would answer itself from its own address; masquerade
  // so the reply returns through the node and is un-NATed.
  s += head + "ct status dnat " + w.addr + " saddr . " + w.addr + " daddr @hairpin masquerade\n";
  return s;
}

}  // namespace

std::string set_name(SetId set, uint32_t timeout) {
  switch (set) {
    case SetId::kServiceIps:
      return "service-ips";
    case SetId::kNoEndpoints:
      return "no-endpoints";
    case SetId::kEndpoints:
      return "endpoints";
    case SetId::kHairpin:
      return "hairpin";
    case SetId::kAffinity:
      return "affinity-" + std::to_string(timeout);
    case SetId::kSticky:
      return "sticky-" + std::to_string(timeout);
  }
  return "";
}

uint32_t capacity_for(size_t elements) {
  uint32_t c = 8192;
  while (c < 2 * elements && c < (1u << 30)) c <<= 1;
  return c;
}

uint32_t shard_of(const std::string& service_key, const RulesetConfig& cfg) {
  if (cfg.shards <= 1) return 0;
  uint32_t h = 2166136261u;  // FNV-1a: stable across runs and builds, unlike std::hash
  for (unsigned char c : service_key) h = (h ^ c) * 16777619u;
  return h % cfg.shards;
}

std::string shard_table(uint32_t shard, const RulesetConfig& cfg) {
  return cfg.shards <= 1 ? cfg.table : cfg.table + "-" + std::to_string(shard);
}

std::optional<uint32_t> parse_shard_table(const std::string& table, const RulesetConfig& cfg) {
  const std::string head = cfg.table + "-";
  if (table.size() <= head.size() || table.size() > head.size() + 6 ||
      table.compare(0, head.size(), head) != 0)
    return std::nullopt;
  uint32_t n = 0;
  for (size_t i = head.size(); i < table.size(); ++i) {
    if (table[i] < '0' || table[i] > '9') return std::nullopt;
    n = n * 10 + static_cast<uint32_t>(table[i] - '0');
  }
  return n;
}

std::string table_of(const ElementOp& op, const RulesetConfig& cfg) {
  return op.set == SetId::kNoEndpoints || op.set == SetId::kHairpin ? cfg.table : shard_table(op.shard, cfg);
}

std::string base_skeleton_text(Family f, const RulesetConfig& cfg, const SetCapacities& capacities) {
  const Words w = words(f);
  const std::string t = prefix(f, cfg);
  const std::string key = std::string(w.addr_t) + " . inet_proto . inet_service";
  const std::string fe = std::string(w.addr) + " daddr . meta l4proto . th dport";
  std::string s = "table " + t + " {\n";
  s += "  set no-endpoints { type " + key + ";" + size_clause(capacities.no_endpoints) + " }\n";
  s += "  set hairpin { type " + std::string(w.addr_t) + " . " + w.addr_t + ";" +
       size_clause(capacities.hairpin) + " }\n";
  s += "  chain nat-postrouting { type nat hook postrouting priority srcnat; policy accept; }\n";
  // Before the filter priority so that a service without endpoints is refused whatever else runs.
  s += "  chain filter-input { type filter hook input priority -5; policy accept; }\n";
  s += "  chain filter-forward { type filter hook forward priority -5; policy accept; }\n";
  s += "  chain filter-output { type filter hook output priority -5; policy accept; }\n";
  s += "}\n";
  for (const char* chain : {"filter-input", "filter-forward", "filter-output"}) {
    s += "flush chain " + t + " " + chain + "\n";
    // Refused at once (ICMP port unreachable, which TCP reports as ECONNREFUSED) instead of a timeout.
    s += "add rule " + t + " " + chain + " ct state new " + fe + " @no-endpoints reject\n";
  }
  // One masquerade rule for all shards: the mark a shard's chain sets is the packet's, whatever table.
  if (cfg.shards > 1) s += "flush chain " + t + " nat-postrouting\n" + masquerade_rules(f, cfg);
  return s;
}

std::string shard_skeleton_text(Family f, uint32_t shard, const RulesetConfig& cfg,
                                const SetCapacities& capacities) {
  const Words w = words(f);
  const std::string t = std::string(nft_family(f)) + " " + shard_table(shard, cfg);
  const std::string key = std::string(w.addr_t) + " . inet_proto . inet_service";
  const std::string fe = std::string(w.addr) + " daddr . meta l4proto . th dport";
  std::string s = "table " + t + " {\n";
  s += "  map service-ips { type " + key + " : verdict;" + size_clause(capacities.service_ips) + " }\n";
  // typeof, because a numgen value has no named type; `mod 1` only fixes the key's layout. nft 1.0.6
  // cannot add rules using this map once it is in the kernel ("conflicting protocols" from the
  // `th dport` it reads back), which is why the rules using it are written with libnftnl.
  s += "  map endpoints { typeof " + fe + " . numgen random mod 1 : " + w.addr + " daddr . th dport;" +
       size_clause(capacities.endpoints) + " }\n";
  s += "  chain nat-prerouting { type nat hook prerouting priority dstnat; policy accept; }\n";
  s += "  chain nat-output { type nat hook output priority -100; policy accept; }\n";
  s += "  chain nat-postrouting { type nat hook postrouting priority srcnat; policy accept; }\n";
  s += "}\n";
  return s;
}

std::string hook_rules_text(Family f, uint32_t shard, const RulesetConfig& cfg) {
  const Words w = words(f);
  const std::string t = std::string(nft_family(f)) + " " + shard_table(shard, cfg);
  const std::string fe = std::string(w.addr) + " daddr . meta l4proto . th dport";
  std::string s;
  for (const char* chain : {"nat-prerouting", "nat-output"}) {
    s += "flush chain " + t + " " + chain + "\n";
    s += "add rule " + t + " " + chain + " " + fe + " vmap @service-ips\n";
  }
  return s;
}

std::string chain_text(const ChainKey& chain, const RulesetConfig& cfg) {
  return "add chain " + std::string(nft_family(chain.family)) + " " + shard_table(chain.shard, cfg) + " " +
         chain.spec.name() + "\n";
}

std::string chain_rule_text(const ChainKey& chain, const RulesetConfig& cfg) {
  const ChainSpec& spec = chain.spec;
  const Words w = words(chain.family);
  const std::string t = std::string(nft_family(chain.family)) + " " + shard_table(chain.shard, cfg);
  const std::string name = spec.name();
  const std::string fe = std::string(w.addr) + " daddr . meta l4proto . th dport";
  std::string s = "flush chain " + t + " " + name + "\n";
  if (spec.masquerade)
    s += "add rule " + t + " " + name + " meta mark set meta mark | " + hex(cfg.masquerade_mark) + "\n";
  if (spec.affinity_timeout)
    s += "add rule " + t + " " + name + " dnat " + w.fam + " to " + fe + " . " + w.addr + " saddr map @" +
         set_name(SetId::kSticky, spec.affinity_timeout) + "\n";
  if (spec == spec.plain())
    s += "add rule " + t + " " + name + " dnat " + w.fam + " to " + fe + " . numgen random mod " +
         std::to_string(spec.endpoints) + " map @endpoints\n";
  else
    s += "add rule " + t + " " + name + " goto " + spec.plain().name() + "\n";
  return s;
}

std::string delete_chain_text(Family f, const std::string& table, const std::string& chain) {
  return "delete chain " + std::string(nft_family(f)) + " " + table + " " + chain + "\n";
}

std::string affinity_group_text(Family f, uint32_t shard, uint32_t timeout, const RulesetConfig& cfg) {
  const Words w = words(f);
  const std::string key = std::string(w.addr_t) + " . inet_proto . inet_service";
  const std::string t = std::string(nft_family(f)) + " " + shard_table(shard, cfg);
  return "add set " + t + " " + set_name(SetId::kAffinity, timeout) + " { type " + key + "; }\n" +
         "add map " + t + " " + set_name(SetId::kSticky, timeout) + " { type " + key + " . " + w.addr_t +
         " : " + w.addr_t + " . inet_service; flags dynamic,timeout; timeout " + std::to_string(timeout) +
         "s; }\n";
}

std::string delete_affinity_group_text(Family f, uint32_t shard, uint32_t timeout, const RulesetConfig& cfg) {
  const std::string t = std::string(nft_family(f)) + " " + shard_table(shard, cfg);
  return "delete set " + t + " " + set_name(SetId::kAffinity, timeout) + "\ndelete map " + t + " " +
         set_name(SetId::kSticky, timeout) + "\n";
}

std::string postrouting_text(Family f, uint32_t shard, const std::set<uint32_t>& affinity_timeouts,
                             const RulesetConfig& cfg) {
  const Words w = words(f);
  const std::string t = std::string(nft_family(f)) + " " + shard_table(shard, cfg);
  const std::string head = "add rule " + t + " nat-postrouting ";
  std::string s = "flush chain " + t + " nat-postrouting\n";
  // Postrouting sees the endpoint the dnat chose; conntrack still knows the frontend. Recorded on
  // the first packet of each connection, so the timeout runs from the client's last connection.
  const std::string orig =
      std::string("ct original ") + w.addr + " daddr . meta l4proto . ct original proto-dst";
  for (uint32_t timeout : affinity_timeouts)
    s += head + "meta l4proto { tcp, udp, sctp } ct status dnat " + orig + " @" +
         set_name(SetId::kAffinity, timeout) + " update @" + set_name(SetId::kSticky, timeout) + " { " +
         orig + " . " + w.addr + " saddr : " + w.addr + " daddr . th dport }\n";
  if (cfg.shards <= 1) s += masquerade_rules(f, cfg);
  return s;
}

std::string element_text(const ElementOp& op, const RulesetConfig& cfg) {
  const std::string t = std::string(nft_family(op.family())) + " " + table_of(op, cfg);
  const std::string name = set_name(op.set, op.timeout);
  const bool is_map = op.set == SetId::kServiceIps || op.set == SetId::kEndpoints || op.set == SetId::kSticky;
  if (op.kind == ElementOp::Kind::kFlush)
    return std::string("flush ") + (is_map ? "map " : "set ") + t + " " + name + "\n";
  std::string key, value;
  switch (op.set) {
    case SetId::kServiceIps:
      key = frontend_text(op.key);
      value = "goto " + op.chain.name();
      break;
    case SetId::kEndpoints:
      key = frontend_text(op.key) + " . " + std::to_string(op.index);
      value = op.backend.addr.str() + " . " + std::to_string(op.backend.port);
      break;
    case SetId::kHairpin:
      key = op.key.addr.str() + " . " + op.key.addr.str();
      break;
    default:
      key = frontend_text(op.key);
  }
  const bool add = op.kind == ElementOp::Kind::kAdd;
  std::string s = (add ? "add element " : "delete element ") + t + " " + name + " { " + key;
  if (add && !value.empty()) s += " : " + value;
  return s + " }\n";
}

}  // namespace podnet::proxy
