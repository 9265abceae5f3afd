// The planner: see planner.h for the shape. Peers are resolved once per plan and shared by every
// rule naming the same selector pair or ipBlock; port ranges of one pod are cut into disjoint
// segments (an interval map may not overlap), each mapped to the class of the peers covering it.
#include "policy/planner.h"

#include <algorithm>
#include <boost/asio/ip/address_v4.hpp>
#include <boost/asio/ip/address_v6.hpp>
#include <limits>

namespace podnet::policy {
namespace {

using u128 = unsigned __int128;

template <class T>
void normalize(std::vector<std::pair<T, T>>& v) {
  std::sort(v.begin(), v.end());
  std::vector<std::pair<T, T>> out;
  for (const auto& r : v) {
    if (!out.empty() &&
        (out.back().second == std::numeric_limits<T>::max() || r.first <= out.back().second + 1)) {
      out.back().second = std::max(out.back().second, r.second);
      continue;
    }
    out.push_back(r);
  }
  v = std::move(out);
}

template <class T>
void subtract(std::vector<std::pair<T, T>>& v, T lo, T hi) {
  std::vector<std::pair<T, T>> out;
  for (const auto& r : v) {
    if (r.second < lo || r.first > hi) {
      out.push_back(r);
      continue;
    }
    if (r.first < lo) out.push_back({r.first, lo - 1});
    if (r.second > hi) out.push_back({hi + 1, r.second});
  }
  v = std::move(out);
}

uint32_t v4num(const IpAddress& a) {
  return a.to_v4().to_uint();
}
u128 v6num(const IpAddress& a) {
  u128 n = 0;
  for (auto b : a.to_v6().to_bytes()) n = (n << 8) | b;
  return n;
}
std::string v4text(uint32_t n) {
  return boost::asio::ip::address_v4(n).to_string();
}
std::string v6text(u128 n) {
  boost::asio::ip::address_v6::bytes_type b;
  for (int i = 15; i >= 0; --i, n >>= 8) b[i] = static_cast<unsigned char>(n & 0xff);
  return boost::asio::ip::address_v6(b).to_string();
}

struct Intervals {
  std::vector<std::pair<uint32_t, uint32_t>> v4;
  std::vector<std::pair<u128, u128>> v6;

  void add(const IpAddress& a) {
    if (a.is_v4())
      v4.push_back({v4num(a), v4num(a)});
    else
      v6.push_back({v6num(a), v6num(a)});
  }
  static std::pair<uint32_t, uint32_t> range4(const IpPrefix& p) {
    uint32_t mask = p.len == 0 ? 0 : ~uint32_t{0} << (32 - p.len);
    uint32_t lo = v4num(p.addr) & mask;
    return {lo, lo | ~mask};
  }
  static std::pair<u128, u128> range6(const IpPrefix& p) {
    u128 mask = p.len == 0 ? 0 : ~u128{0} << (128 - p.len);
    u128 lo = v6num(p.addr) & mask;
    return {lo, lo | ~mask};
  }
  void add(const IpPrefix& p) {
    if (p.is_v4())
      v4.push_back(range4(p));
    else
      v6.push_back(range6(p));
  }
  void subtract(const IpPrefix& p) {
    if (p.is_v4()) {
      auto [lo, hi] = range4(p);
      policy::subtract(v4, lo, hi);
    } else {
      auto [lo, hi] = range6(p);
      policy::subtract(v6, lo, hi);
    }
  }
  void append(const Intervals& o) {
    v4.insert(v4.end(), o.v4.begin(), o.v4.end());
    v6.insert(v6.end(), o.v6.begin(), o.v6.end());
  }
  void normalize() {
    policy::normalize(v4);
    policy::normalize(v6);
  }
};

// What one from/to element stands for.
struct Peer {
  std::vector<const Pod*> pods;
  Intervals blocks;
  bool has_block = false;  // an ipBlock (its intervals may be empty: a cidr wholly excepted)
};

constexpr const char* kAnyPeer = "*";

std::string join(const std::set<std::string>& s) {
  std::string out;
  for (const auto& x : s) out += x + "\n";
  return out;
}

std::string ports_text(int lo, int hi) {
  return lo == hi ? std::to_string(lo) : std::to_string(lo) + "-" + std::to_string(hi);
}

}  // namespace

size_t TableState::element_count() const {
  size_t n = 0;
  for (const auto& [_, s] : sets) n += s.elements.size();
  return n;
}

int Planner::class_id(std::map<std::string, int>& ids, int& next, const std::string& key) {
  auto [it, added] = ids.emplace(key, next);
  if (added) ++next;
  return it->second;
}

TableState Planner::plan(const PlannerInput& in) {
  TableState t;
  t.own_ranges = in.own_ranges;
  for (const char* fam : {"", "6"}) {
    std::string addr = *fam ? "ipv6_addr" : "ipv4_addr";
    for (const char* s : {"local-pods", "ingress-isolated", "egress-isolated"})
      t.sets[std::string(s) + fam] = {false, "type " + addr + ";", {}};
    for (const char* m : {"in-ports", "out-ports"})
      t.sets[std::string(m) + fam] = {
          true, "type " + addr + " . inet_proto . inet_service : verdict; flags interval;", {}};
    for (const char* m : {"in-any", "out-any", "out-named"})
      t.sets[std::string(m) + fam] = {true, "type " + addr + " : verdict;", {}};
  }
  auto fam = [](const IpAddress& a) { return a.is_v4() ? std::string() : std::string("6"); };

  std::map<std::string, std::vector<const Pod*>> pods_by_ns;
  std::vector<const Pod*> all_subjects;
  for (const auto& [_, p] : *in.pods)
    if (p.is_subject()) {
      pods_by_ns[p.namespace_].push_back(&p);
      all_subjects.push_back(&p);
    }
  std::map<std::string, std::vector<const NetworkPolicy*>> policies_by_ns;
  for (const auto& [_, np] : *in.policies) policies_by_ns[np.namespace_].push_back(&np);

  // Labels of a namespace; one the informer has not delivered yet still has its name label.
  auto ns_labels = [&](const std::string& name) -> Labels {
    if (auto it = in.namespaces->find(name); it != in.namespaces->end()) return it->second.labels;
    return {{"kubernetes.io/metadata.name", name}};
  };

  std::map<std::string, Peer> peers;
  auto peer_of = [&](const PolicyPeer& p, const std::string& policy_ns) -> std::string {
    std::string key;
    if (p.ip_block) {
      key = "ip:" + p.ip_block->cidr.str();
      for (const auto& e : p.ip_block->except) key += "-" + e.str();
    } else {
      key = "pod:" + (p.namespace_selector ? "ns" + p.namespace_selector->canonical() : "in:" + policy_ns) +
            "|" + (p.pod_selector ? p.pod_selector->canonical() : "{}");
    }
    if (peers.contains(key)) return key;
    Peer& peer = peers[key];
    if (p.ip_block) {
      peer.has_block = true;
      peer.blocks.add(p.ip_block->cidr);
      for (const auto& e : p.ip_block->except) peer.blocks.subtract(e);
      return key;
    }
    auto take_ns = [&](const std::string& ns) {
      auto it = pods_by_ns.find(ns);
      if (it == pods_by_ns.end()) return;
      for (const Pod* pod : it->second)
        if (!p.pod_selector || p.pod_selector->matches(pod->labels)) peer.pods.push_back(pod);
    };
    if (!p.namespace_selector) {
      take_ns(policy_ns);
    } else {
      for (const auto& [ns, _] : pods_by_ns)
        if (p.namespace_selector->matches(ns_labels(ns))) take_ns(ns);
    }
    return key;
  };

  std::map<std::string, std::set<std::string>> used_classes;  // class key -> peer keys
  struct NamedDef {
    std::string peer, name;
    Protocol proto;
  };
  std::map<std::string, NamedDef> named_defs;
  std::map<std::string, std::set<std::string>> used_named;  // named class key -> named peer keys

  auto verdict_for = [&](const std::set<std::string>& ps, bool ingress,
                         const std::set<std::string>& policies) -> std::string {
    if (ps.contains(kAnyPeer)) return "accept";
    std::string key = join(ps);
    used_classes[key] = ps;
    int id = class_id(class_ids_, next_class_, key);
    std::string chain = std::string(ingress ? "ic-" : "ec-") + std::to_string(id);
    t.chain_policies[chain].insert(policies.begin(), policies.end());
    return "jump " + chain;
  };

  for (const auto& [_, pod] : *in.pods) {
    if (pod.node != in.node || !pod.is_subject()) continue;
    for (const auto& ip : pod.ips) t.sets["local-pods" + fam(ip)].elements[ip.to_string()] = "";
    std::vector<const NetworkPolicy*> selecting;
    if (auto it = policies_by_ns.find(pod.namespace_); it != policies_by_ns.end())
      for (const NetworkPolicy* np : it->second)
        if (np->pod_selector.matches(pod.labels)) selecting.push_back(np);
    if (selecting.empty()) continue;
    for (const auto& ip : pod.ips)
      for (const NetworkPolicy* np : selecting) t.selected_by[ip.to_string()].push_back(np->key());

    for (bool ingress : {true, false}) {
      struct Range {
        Protocol proto;
        int lo, hi;
        std::vector<std::string> peers;
        std::string policy;
      };
      std::vector<Range> ranges;
      std::set<std::string> any_port_peers, named, any_port_policies, named_policies;
      bool isolated = false;
      for (const NetworkPolicy* np : selecting) {
        if (!(ingress ? np->ingress : np->egress)) continue;
        isolated = true;
        for (const PolicyRule& rule : ingress ? np->ingress_rules : np->egress_rules) {
          std::vector<std::string> pk;
          if (rule.peers.empty()) pk.push_back(kAnyPeer);
          for (const auto& peer : rule.peers) pk.push_back(peer_of(peer, np->namespace_));
          if (rule.ports.empty()) {
            any_port_peers.insert(pk.begin(), pk.end());
            any_port_policies.insert(np->key());
          }
          for (const PolicyPort& port : rule.ports) {
            if (!port.port) {
              ranges.push_back({port.protocol, 0, 65535, pk, np->key()});
            } else if (auto* n = std::get_if<int32_t>(&*port.port)) {
              ranges.push_back({port.protocol, *n, port.end_port.value_or(*n), pk, np->key()});
            } else {
              const std::string& name = std::get<std::string>(*port.port);
              if (ingress) {
                // Resolved against this pod, the destination.
                for (const auto& cp : pod.ports)
                  if (cp.name == name && cp.protocol == port.protocol)
                    ranges.push_back({port.protocol, cp.port, cp.port, pk, np->key()});
              } else {
                // Resolved against each destination pod: elements name its address and port.
                for (const auto& k : pk) {
                  std::string nk = k + "|" + name + "|" + nft_proto(port.protocol);
                  named_defs.emplace(nk, NamedDef{k, name, port.protocol});
                  named.insert(nk);
                }
                named_policies.insert(np->key());
              }
            }
          }
        }
      }
      if (!isolated) continue;
      std::string dir = ingress ? "in" : "out";
      for (const auto& ip : pod.ips)
        t.sets[(ingress ? "ingress-isolated" : "egress-isolated") + fam(ip)].elements[ip.to_string()] = "";
      for (Protocol proto : {Protocol::kTcp, Protocol::kUdp, Protocol::kSctp}) {
        std::vector<int> cuts;
        for (const auto& r : ranges)
          if (r.proto == proto) {
            cuts.push_back(r.lo);
            cuts.push_back(r.hi + 1);
          }
        std::sort(cuts.begin(), cuts.end());
        cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
        // Disjoint segments, adjacent ones with the same peers merged.
        struct Seg {
          int lo, hi;
          std::set<std::string> peers, policies;
        };
        std::vector<Seg> segs;
        for (size_t i = 0; i + 1 < cuts.size(); ++i) {
          int lo = cuts[i], hi = cuts[i + 1] - 1;
          std::set<std::string> ps, pols;
          for (const auto& r : ranges)
            if (r.proto == proto && r.lo <= lo && r.hi >= hi) {
              ps.insert(r.peers.begin(), r.peers.end());
              pols.insert(r.policy);
            }
          if (ps.empty()) continue;
          if (!segs.empty() && segs.back().hi + 1 == lo && segs.back().peers == ps) {
            segs.back().hi = hi;
            segs.back().policies.insert(pols.begin(), pols.end());
          } else {
            segs.push_back({lo, hi, std::move(ps), std::move(pols)});
          }
        }
        for (const auto& seg : segs) {
          std::pair<int, int> range{seg.lo, seg.hi};
          std::string verdict = verdict_for(seg.peers, ingress, seg.policies);
          for (const auto& ip : pod.ips)
            t.sets[dir + "-ports" + fam(ip)].elements[ip.to_string() + " . " + nft_proto(proto) + " . " +
                                                      ports_text(range.first, range.second)] = verdict;
        }
      }
      if (!any_port_peers.empty()) {
        std::string verdict = verdict_for(any_port_peers, ingress, any_port_policies);
        for (const auto& ip : pod.ips) t.sets[dir + "-any" + fam(ip)].elements[ip.to_string()] = verdict;
      }
      if (!named.empty()) {
        std::string key = join(named);
        used_named[key] = named;
        int id = class_id(named_ids_, next_named_, key);
        t.chain_policies["en-" + std::to_string(id)].insert(named_policies.begin(), named_policies.end());
        for (const auto& ip : pod.ips)
          t.sets["out-named" + fam(ip)].elements[ip.to_string()] = "jump en-" + std::to_string(id);
      }
    }
  }

  // A class's pod members go to hash sets (cN), its ipBlocks to interval sets (bN, only for classes
  // that name one): libnftables reads every element of every interval set of the table into its
  // cache before any element change, so interval elements make every update cost O(table).
  for (const auto& [key, ps] : used_classes) {
    std::set<std::string> pods4, pods6;
    Intervals blocks;
    bool has_blocks = false;
    for (const auto& pk : ps) {
      const Peer& peer = peers.at(pk);
      for (const Pod* pod : peer.pods)
        for (const auto& ip : pod->ips) (ip.is_v4() ? pods4 : pods6).insert(ip.to_string());
      blocks.append(peer.blocks);
      has_blocks = has_blocks || peer.has_block;
    }
    blocks.normalize();
    std::string id = std::to_string(class_ids_.at(key));
    SetState v4{false, "type ipv4_addr;", {}}, v6{false, "type ipv6_addr;", {}};
    for (const auto& a : pods4) v4.elements[a] = "";
    for (const auto& a : pods6) v6.elements[a] = "";
    t.sets["c" + id] = std::move(v4);
    t.sets["c" + id + "-6"] = std::move(v6);
    std::vector<std::string> in{"ip saddr @c" + id + " counter accept",
                                "ip6 saddr @c" + id + "-6 counter accept"};
    std::vector<std::string> out{"ip daddr @c" + id + " counter accept",
                                 "ip6 daddr @c" + id + "-6 counter accept"};
    if (has_blocks) {
      SetState b4{false, "type ipv4_addr; flags interval;", {}},
          b6{false, "type ipv6_addr; flags interval;", {}};
      for (auto [lo, hi] : blocks.v4) b4.elements[lo == hi ? v4text(lo) : v4text(lo) + "-" + v4text(hi)] = "";
      for (auto [lo, hi] : blocks.v6) b6.elements[lo == hi ? v6text(lo) : v6text(lo) + "-" + v6text(hi)] = "";
      t.sets["b" + id] = std::move(b4);
      t.sets["b" + id + "-6"] = std::move(b6);
      in.push_back("ip saddr @b" + id + " counter accept");
      in.push_back("ip6 saddr @b" + id + "-6 counter accept");
      out.push_back("ip daddr @b" + id + " counter accept");
      out.push_back("ip6 daddr @b" + id + "-6 counter accept");
    }
    t.chains["ic-" + id] = std::move(in);
    t.chains["ec-" + id] = std::move(out);
  }
  for (const auto& [key, nks] : used_named) {
    std::string id = std::to_string(named_ids_.at(key));
    SetState v4{false, "type ipv4_addr . inet_proto . inet_service;", {}},
        v6{false, "type ipv6_addr . inet_proto . inet_service;", {}};
    for (const auto& nk : nks) {
      const NamedDef& d = named_defs.at(nk);
      const std::vector<const Pod*>& pods = d.peer == kAnyPeer ? all_subjects : peers.at(d.peer).pods;
      for (const Pod* pod : pods)
        for (const auto& cp : pod->ports)
          if (cp.name == d.name && cp.protocol == d.proto)
            for (const auto& ip : pod->ips)
              (ip.is_v4() ? v4 : v6)
                  .elements[ip.to_string() + " . " + nft_proto(d.proto) + " . " + std::to_string(cp.port)] =
                  "";
    }
    t.sets["n" + id] = std::move(v4);
    t.sets["n" + id + "-6"] = std::move(v6);
    t.chains["en-" + id] = {"ip daddr . meta l4proto . th dport @n" + id + " counter accept",
                            "ip6 daddr . meta l4proto . th dport @n" + id + "-6 counter accept"};
  }
  // Forget classes no longer used (their numbers are not reused).
  std::erase_if(class_ids_, [&](const auto& kv) { return !used_classes.contains(kv.first); });
  std::erase_if(named_ids_, [&](const auto& kv) { return !used_named.contains(kv.first); });
  return t;
}

}  // namespace podnet::policy
