// Base chains (docs/networkpolicy.md): egress is judged in `forward` and `input`, ingress in
// `forward-ingress`, a second base chain on the forward hook one priority later: an accept only
// ends its own base chain, so a packet allowed out of its source pod still meets its destination
// pod's ingress verdict, and a drop in either is final.
#include "policy/ruleset.h"

namespace podnet::policy {
namespace {

const std::string kT = std::string("inet ") + kTable;

std::string elements_text(const SetState& s) {
  std::string out;
  for (const auto& [k, v] : s.elements) {
    if (!out.empty()) out += ", ";
    out += v.empty() ? k : k + " : " + v;
  }
  return out;
}

// The deny rules count into named counters (kDenyCounters), so /metrics reads every counter of the
// table with one `list counters`, never the sets' elements.
std::string deny_rules(const char* dir, const RulesetConfig& cfg) {
  std::string out;
  std::string counter = std::string("counter name \"deny-") + dir + "\"";
  if (cfg.log_group > 0)
    out += "    " + counter + " limit rate " + std::to_string(cfg.log_rate_per_second) +
           "/second burst 20 packets log prefix \"podnet-policy " + dir + " \" group " +
           std::to_string(cfg.log_group) + " drop\n    drop\n";
  else
    out += "    " + counter + " drop\n";
  return out;
}

std::string base_chains(const TableState& s, const RulesetConfig& cfg) {
  std::string pending, pending_in;
  for (const auto& r : s.own_ranges) {
    std::string f = r.is_v4() ? "ip" : "ip6", set = r.is_v4() ? "@local-pods" : "@local-pods6";
    std::string net = r.network().str();
    const std::string drop = " counter name \"deny-pending\" drop\n";
    pending += "    " + f + " saddr " + net + " " + f + " saddr != " + set + drop;
    pending += "    " + f + " daddr " + net + " " + f + " daddr != " + set + drop;
    pending_in +=
        "    iifname \"" + cfg.bridge + "\" " + f + " saddr " + net + " " + f + " saddr != " + set + drop;
  }
  std::string out;
  out +=
      "  chain ingress {\n"
      "    ip daddr . meta l4proto . th dport vmap @in-ports\n"
      "    ip6 daddr . meta l4proto . th dport vmap @in-ports6\n"
      "    ip daddr vmap @in-any\n"
      "    ip6 daddr vmap @in-any6\n" +
      deny_rules("ingress", cfg) + "  }\n";
  out +=
      "  chain egress {\n"
      "    ip saddr . meta l4proto . th dport vmap @out-ports\n"
      "    ip6 saddr . meta l4proto . th dport vmap @out-ports6\n"
      "    ip saddr vmap @out-any\n"
      "    ip6 saddr vmap @out-any6\n"
      "    ip saddr vmap @out-named\n"
      "    ip6 saddr vmap @out-named6\n" +
      deny_rules("egress", cfg) + "  }\n";
  out +=
      "  chain forward {\n"
      "    type filter hook forward priority filter; policy accept;\n"
      "    ct state established,related accept\n" +
      pending +
      "    ip saddr @egress-isolated jump egress\n"
      "    ip6 saddr @egress-isolated6 jump egress\n"
      "  }\n";
  out +=
      "  chain forward-ingress {\n"
      "    type filter hook forward priority filter + 1; policy accept;\n"
      "    ct state established,related accept\n"
      "    ip daddr @ingress-isolated jump ingress\n"
      "    ip6 daddr @ingress-isolated6 jump ingress\n"
      "  }\n";
  out +=
      "  chain input {\n"
      "    type filter hook input priority filter; policy accept;\n"
      "    ct state established,related accept\n" +
      pending_in +
      "    ip saddr @egress-isolated jump egress\n"
      "    ip6 saddr @egress-isolated6 jump egress\n"
      "  }\n";
  return out;
}

}  // namespace

std::string render_full(const TableState& s, const RulesetConfig& cfg) {
  std::string out = "add table " + kT + "\ndelete table " + kT + "\ntable " + kT + " {\n";
  // Counters first: the maps' elements name them.
  for (const char* c : kDenyCounters) out += std::string("  counter ") + c + " { }\n";
  for (const auto& [name, _] : s.counters) out += "  counter " + name + " { }\n";
  for (const auto& [name, set] : s.sets) {
    out += std::string("  ") + (set.is_map ? "map " : "set ") + name + " {\n    " + set.decl + "\n";
    if (!set.elements.empty()) out += "    elements = { " + elements_text(set) + " }\n";
    out += "  }\n";
  }
  // Class chains before the base chains: the maps' elements jump to them.
  for (const auto& [name, rules] : s.chains) {
    out += "  chain " + name + " {\n";
    for (const auto& r : rules) out += "    " + r + "\n";
    out += "  }\n";
  }
  return out + base_chains(s, cfg) + "}\n";
}

std::string render_diff(const TableState& from, const TableState& to, const RulesetConfig& cfg) {
  if (from.own_ranges != to.own_ranges) return render_full(to, cfg);
  std::string out;
  for (const auto& [name, _] : to.counters)
    if (!from.counters.contains(name)) out += "add counter " + kT + " " + name + "\n";
  for (const auto& [name, set] : to.sets)
    if (!from.sets.contains(name))
      out += "add " + std::string(set.is_map ? "map " : "set ") + kT + " " + name + " { " + set.decl + " }\n";
  for (const auto& [name, rules] : to.chains)
    if (!from.chains.contains(name)) {
      out += "add chain " + kT + " " + name + "\n";
      for (const auto& r : rules) out += "add rule " + kT + " " + name + " " + r + "\n";
    }
  // Deletes before adds: intervals of one set may not overlap even for a moment of the batch.
  for (const auto& [name, old] : from.sets) {
    auto it = to.sets.find(name);
    if (it == to.sets.end() || it->second.elements == old.elements) continue;  // most sets: unchanged
    std::string keys;
    for (const auto& [k, v] : old.elements) {
      auto e = it->second.elements.find(k);
      if (e == it->second.elements.end() || e->second != v) keys += (keys.empty() ? "" : ", ") + k;
    }
    if (!keys.empty()) out += "delete element " + kT + " " + name + " { " + keys + " }\n";
  }
  for (const auto& [name, set] : to.sets) {
    auto it = from.sets.find(name);
    if (it != from.sets.end() && it->second.elements == set.elements) continue;
    std::string elems;
    for (const auto& [k, v] : set.elements) {
      if (it != from.sets.end()) {
        auto e = it->second.elements.find(k);
        if (e != it->second.elements.end() && e->second == v) continue;
      }
      elems += (elems.empty() ? "" : ", ") + (v.empty() ? k : k + " : " + v);
    }
    if (!elems.empty()) out += "add element " + kT + " " + name + " { " + elems + " }\n";
  }
  // Chains after the map elements that jumped to them, sets after the chains that named them.
  for (const auto& [name, _] : from.chains)
    if (!to.chains.contains(name)) out += "delete chain " + kT + " " + name + "\n";
  for (const auto& [name, set] : from.sets)
    if (!to.sets.contains(name))
      out += "delete " + std::string(set.is_map ? "map " : "set ") + kT + " " + name + "\n";
  // Counters last: no element or rule names them any more.
  for (const auto& [name, _] : from.counters)
    if (!to.counters.contains(name)) out += "delete counter " + kT + " " + name + "\n";
  return out;
}

std::string render_delete() {
  return "delete table " + kT + "\n";
}

}  // namespace podnet::policy
