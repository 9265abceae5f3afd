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

constexpr const char* kAnyPeer = "*";

std::string join(const std::set<std::string>& s) {
  std::string out;
  for (const auto& x : s) out += x + "\n";
  return out;
}

std::string ports_text(int lo, int hi) {
  return lo == hi ? std::to_string(lo) : std::to_string(lo) + "-" + std::to_string(hi);
}

std::string fam(const IpAddress& a) {
  return a.is_v4() ? std::string() : std::string("6");
}

// A from/to element's cache key: equal peers (same selectors in the same scope) share one entry.
std::string peer_key(const PolicyPeer& p, const std::string& policy_ns) {
  if (p.ip_block) {
    std::string key = "ip:" + p.ip_block->cidr.str();
    for (const auto& e : p.ip_block->except) key += "-" + e.str();
    return key;
  }
  return "pod:" + (p.namespace_selector ? "ns" + p.namespace_selector->canonical() : "in:" + policy_ns) +
         "|" + (p.pod_selector ? p.pod_selector->canonical() : "{}");
}

// The pods of one namespace in a map keyed by "namespace/name".
template <class M, class F>
void for_namespace(const M& m, const std::string& ns, F&& f) {
  std::string prefix = ns + "/";
  for (auto it = m.lower_bound(prefix); it != m.end() && it->first.starts_with(prefix); ++it)
    f(it->first, it->second);
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

// ---- element bookkeeping: every change goes through here, so an update knows what it touched ----

void Planner::touch(const std::string& set) {
  if (!tracking_) return;
  auto [tc, added] = sets_before_.try_emplace(set);
  Touched& t = tc->second;
  if (t.whole) return;
  t.whole = true;
  auto it = t_.sets.find(set);
  if (it == t_.sets.end()) return;  // made in this update (keys are only touched in existing sets)
  t.before = it->second;
  for (const auto& [k, v] : t.keys) {  // undo this update's element changes
    if (v)
      t.before->elements[k] = *v;
    else
      t.before->elements.erase(k);
  }
  t.keys.clear();
}

void Planner::touch_key(const std::string& set, const std::string& key) {
  if (!tracking_) return;
  Touched& t = sets_before_[set];
  if (t.whole || t.keys.contains(key)) return;
  const auto& elements = t_.sets.at(set).elements;
  auto it = elements.find(key);
  t.keys[key] = it == elements.end() ? std::nullopt : std::optional(it->second);
}

void Planner::touch_chain(const std::string& chain) {
  if (!tracking_ || chains_before_.contains(chain)) return;
  auto it = t_.chains.find(chain);
  chains_before_[chain] = it == t_.chains.end() ? std::nullopt : std::optional(it->second);
}

void Planner::elem_add(const std::string& set, const std::string& key, const std::string& value) {
  touch_key(set, key);
  t_.sets.at(set).elements[key] = value;
}

void Planner::elem_del(const std::string& set, const std::string& key) {
  touch_key(set, key);
  t_.sets.at(set).elements.erase(key);
}

void Planner::ref(std::map<std::string, int>& refs, const std::string& set, const std::string& key,
                  int sign) {
  if (sign > 0) {
    if (++refs[key] == 1) elem_add(set, key, "");
    return;
  }
  auto it = refs.find(key);
  if (it == refs.end()) return;
  if (--it->second == 0) {
    refs.erase(it);
    elem_del(set, key);
  }
}

void Planner::own(const std::string& set, const std::string& key, const std::string& pod,
                  const std::string* value) {
  auto it = owners_.try_emplace({set, key}).first;
  if (value)
    it->second[pod] = *value;
  else
    it->second.erase(pod);
  if (it->second.empty()) {
    owners_.erase(it);
    elem_del(set, key);
    return;
  }
  const std::string& v = it->second.rbegin()->second;
  const auto& elements = t_.sets.at(set).elements;
  if (auto e = elements.find(key); e == elements.end() || e->second != v) elem_add(set, key, v);
}

// ---- peers and their members ----

bool Planner::namespace_matches(const PeerEntry& pe, const std::string& ns) const {
  if (pe.any) return true;
  if (pe.def.ip_block) return false;
  if (!pe.def.namespace_selector) return ns == pe.policy_ns;
  if (auto it = in_->namespaces->find(ns); it != in_->namespaces->end())
    return pe.def.namespace_selector->matches(it->second.labels);
  // One the informer has not delivered yet still has its name label.
  return pe.def.namespace_selector->matches({{"kubernetes.io/metadata.name", ns}});
}

bool Planner::peer_matches(const PeerEntry& pe, const Pod& pod) const {
  if (!pod.is_subject() || !namespace_matches(pe, pod.namespace_)) return false;
  return pe.any || !pe.def.pod_selector || pe.def.pod_selector->matches(pod.labels);
}

// A peer is resolved once, when the first class names it (one scan of the pods); later pod
// changes keep its members (update_membership).
Planner::PeerEntry& Planner::acquire_peer(const std::string& key, const PeerDefs& defs) {
  if (auto it = peers_.find(key); it != peers_.end()) return it->second;
  PeerEntry pe;
  if (key == kAnyPeer) {
    pe.any = true;
  } else {
    const auto& [def, ns] = defs.at(key);
    pe.def = *def;
    pe.policy_ns = ns;
  }
  if (!pe.def.ip_block) {
    // Pods are keyed "namespace/name", so a namespace's pods are one run: a namespace the peer
    // does not select is skipped whole.
    const auto& pods = *in_->pods;
    for (auto it = pods.begin(); it != pods.end();) {
      const std::string ns = it->second.namespace_;
      if (!namespace_matches(pe, ns)) {
        it = pods.lower_bound(ns + "0");  // '0' follows '/': the first key past this namespace
        continue;
      }
      for (; it != pods.end() && it->second.namespace_ == ns; ++it) {
        const Pod& pod = it->second;
        if (!pod.is_subject() ||
            (!pe.any && pe.def.pod_selector && !pe.def.pod_selector->matches(pod.labels)))
          continue;
        auto rec = records_.find(it->first);
        if (rec == records_.end()) continue;  // not reached: every subject pod has a record
        pe.members.emplace(it->first, &rec->second);
        rec->second.peers.insert(key);
      }
    }
  }
  return peers_.emplace(key, std::move(pe)).first->second;
}

void Planner::member_change(const std::string& peer_key, const PodRecord& rec, int sign) {
  const PeerEntry& pe = peers_.at(peer_key);
  for (const auto& ck : pe.classes) {
    ClassEntry& c = classes_.at(ck);
    std::string id = std::to_string(c.id);
    for (size_t i = 0; i < rec.ips.size(); ++i)
      ref(rec.ips[i].is_v4() ? c.refs4 : c.refs6, rec.ips[i].is_v4() ? "c" + id : "c" + id + "-6",
          rec.ip_texts[i], sign);
  }
  for (const auto& nk : pe.named) {
    NamedEntry& n = named_.at(nk);
    std::string id = std::to_string(n.id);
    for (const auto& d : n.defs) {
      if (d.peer != peer_key) continue;
      for (const auto& cp : rec.ports)
        if (cp.name == d.name && cp.protocol == d.proto)
          for (const auto& ip : rec.ips)
            ref(ip.is_v4() ? n.refs4 : n.refs6, ip.is_v4() ? "n" + id : "n" + id + "-6",
                ip.to_string() + " . " + nft_proto(d.proto) + " . " + std::to_string(cp.port), sign);
    }
  }
}

// One pod's addresses, ports and peer memberships brought up to date (it may be new or gone).
void Planner::update_membership(const std::string& pod_key) {
  auto it = in_->pods->find(pod_key);
  const Pod* pod = it != in_->pods->end() && it->second.is_subject() ? &it->second : nullptr;
  PodRecord next;
  if (pod) {
    next.ips = pod->ips;
    for (const auto& ip : pod->ips) next.ip_texts.push_back(ip.to_string());
    next.ports = pod->ports;
    for (const auto& [pk, pe] : peers_)
      if (peer_matches(pe, *pod)) next.peers.insert(pk);
  }
  auto old = records_.find(pod_key);
  if (old != records_.end() && pod && old->second == next) return;  // nothing a class holds changed
  if (old != records_.end()) {
    for (const auto& pk : old->second.peers) {
      peers_.at(pk).members.erase(pod_key);
      member_change(pk, old->second, -1);
    }
    records_.erase(old);
  }
  if (!pod) return;
  PodRecord& rec = records_[pod_key] = std::move(next);
  for (const auto& pk : rec.peers) {
    peers_.at(pk).members.emplace(pod_key, &rec);
    member_change(pk, rec, +1);
  }
}

// ---- classes ----

int Planner::acquire_class(const std::string& key, const std::set<std::string>& peer_keys,
                           const PeerDefs& defs) {
  auto it = classes_.find(key);
  if (it == classes_.end()) {
    // A class's pod members go to hash sets (cN), its ipBlocks to interval sets (bN, only for
    // classes that name one): libnftables reads every element of every interval set of the table
    // into its cache before any element change, so interval elements make every update cost O(table).
    ClassEntry c;
    c.id = class_id(class_ids_, next_class_, key);
    Intervals blocks;
    bool has_blocks = false;
    for (const auto& pk : peer_keys) {
      PeerEntry& pe = acquire_peer(pk, defs);
      pe.classes.insert(key);
      c.peers.push_back(pk);
      if (pe.def.ip_block) {
        Intervals b;
        b.add(pe.def.ip_block->cidr);
        for (const auto& e : pe.def.ip_block->except) b.subtract(e);
        blocks.append(b);
        has_blocks = true;
      }
      for (const auto& [_, rec] : pe.members)
        for (size_t i = 0; i < rec->ips.size(); ++i)
          ++(rec->ips[i].is_v4() ? c.refs4 : c.refs6)[rec->ip_texts[i]];
    }
    blocks.normalize();
    std::string id = std::to_string(c.id);
    SetState v4{false, "type ipv4_addr;", {}}, v6{false, "type ipv6_addr;", {}};
    for (const auto& [a, _] : c.refs4) v4.elements[a] = "";
    for (const auto& [a, _] : c.refs6) v6.elements[a] = "";
    std::vector<std::pair<std::string, SetState>> sets{{"c" + id, std::move(v4)},
                                                       {"c" + id + "-6", std::move(v6)}};
    std::vector<std::string> in{"ip saddr @c" + id + " counter accept",
                                "ip6 saddr @c" + id + "-6 counter accept"};
    std::vector<std::string> out{"ip daddr @c" + id + " counter accept",
                                 "ip6 daddr @c" + id + "-6 counter accept"};
    if (has_blocks) {
      SetState b4{false, "type ipv4_addr; flags interval;", {}},
          b6{false, "type ipv6_addr; flags interval;", {}};
      for (auto [lo, hi] : blocks.v4) b4.elements[lo == hi ? v4text(lo) : v4text(lo) + "-" + v4text(hi)] = "";
      for (auto [lo, hi] : blocks.v6) b6.elements[lo == hi ? v6text(lo) : v6text(lo) + "-" + v6text(hi)] = "";
      sets.push_back({"b" + id, std::move(b4)});
      sets.push_back({"b" + id + "-6", std::move(b6)});
      in.push_back("ip saddr @b" + id + " counter accept");
      in.push_back("ip6 saddr @b" + id + "-6 counter accept");
      out.push_back("ip daddr @b" + id + " counter accept");
      out.push_back("ip6 daddr @b" + id + "-6 counter accept");
    }
    for (auto& [name, set] : sets) {
      touch(name);
      t_.sets[name] = std::move(set);
    }
    touch_chain("ic-" + id);
    touch_chain("ec-" + id);
    t_.chains["ic-" + id] = std::move(in);
    t_.chains["ec-" + id] = std::move(out);
    it = classes_.emplace(key, std::move(c)).first;
  }
  ++it->second.uses;
  return it->second.id;
}

int Planner::acquire_named(const std::string& key, const std::set<std::string>& nks,
                           const std::map<std::string, NamedDef>& named_defs, const PeerDefs& defs) {
  auto it = named_.find(key);
  if (it == named_.end()) {
    NamedEntry n;
    n.id = class_id(named_ids_, next_named_, key);
    std::string id = std::to_string(n.id);
    for (const auto& nk : nks) {
      const NamedDef& d = named_defs.at(nk);
      n.defs.push_back(d);
      PeerEntry& pe = acquire_peer(d.peer, defs);
      pe.named.insert(key);
      for (const auto& [_, r] : pe.members) {
        const PodRecord& rec = *r;
        for (const auto& cp : rec.ports)
          if (cp.name == d.name && cp.protocol == d.proto)
            for (const auto& ip : rec.ips)
              ++(ip.is_v4() ? n.refs4 : n.refs6)[ip.to_string() + " . " + nft_proto(d.proto) + " . " +
                                                 std::to_string(cp.port)];
      }
    }
    SetState v4{false, "type ipv4_addr . inet_proto . inet_service;", {}},
        v6{false, "type ipv6_addr . inet_proto . inet_service;", {}};
    for (const auto& [e, _] : n.refs4) v4.elements[e] = "";
    for (const auto& [e, _] : n.refs6) v6.elements[e] = "";
    touch("n" + id);
    touch("n" + id + "-6");
    t_.sets["n" + id] = std::move(v4);
    t_.sets["n" + id + "-6"] = std::move(v6);
    touch_chain("en-" + id);
    t_.chains["en-" + id] = {"ip daddr . meta l4proto . th dport @n" + id + " counter accept",
                             "ip6 daddr . meta l4proto . th dport @n" + id + "-6 counter accept"};
    it = named_.emplace(key, std::move(n)).first;
  }
  ++it->second.uses;
  return it->second.id;
}

// Classes no local pod uses any more, and peers no class names, go (their numbers are not reused).
void Planner::sweep() {
  auto drop_set = [&](const std::string& name) {
    if (!t_.sets.contains(name)) return;
    touch(name);
    t_.sets.erase(name);
  };
  auto drop_chain = [&](const std::string& name) {
    touch_chain(name);
    t_.chains.erase(name);
  };
  for (auto it = classes_.begin(); it != classes_.end();) {
    if (it->second.uses > 0) {
      ++it;
      continue;
    }
    std::string id = std::to_string(it->second.id);
    for (const auto& pk : it->second.peers) peers_.at(pk).classes.erase(it->first);
    for (const auto& s : {"c" + id, "c" + id + "-6", "b" + id, "b" + id + "-6"}) drop_set(s);
    drop_chain("ic-" + id);
    drop_chain("ec-" + id);
    class_ids_.erase(it->first);
    it = classes_.erase(it);
  }
  for (auto it = named_.begin(); it != named_.end();) {
    if (it->second.uses > 0) {
      ++it;
      continue;
    }
    std::string id = std::to_string(it->second.id);
    for (const auto& d : it->second.defs) peers_.at(d.peer).named.erase(it->first);
    drop_set("n" + id);
    drop_set("n" + id + "-6");
    drop_chain("en-" + id);
    named_ids_.erase(it->first);
    it = named_.erase(it);
  }
  for (auto it = peers_.begin(); it != peers_.end();) {
    if (!it->second.classes.empty() || !it->second.named.empty()) {
      ++it;
      continue;
    }
    for (const auto& [_, rec] : it->second.members) rec->peers.erase(it->first);
    it = peers_.erase(it);
  }
}

// ---- local pods ----

void Planner::add_contribution(const Pod& pod) {
  Contribution c;
  auto put = [&](const std::string& set, const std::string& key, const std::string& value) {
    own(set, key, pod.key(), &value);
    c.elements.emplace_back(set, key, value);
  };
  for (const auto& ip : pod.ips) put("local-pods" + fam(ip), ip.to_string(), "");
  std::vector<const NetworkPolicy*> selecting;
  for_namespace(*in_->policies, pod.namespace_, [&](const std::string&, const NetworkPolicy& np) {
    if (np.pod_selector.matches(pod.labels)) selecting.push_back(&np);
  });
  if (selecting.empty()) {
    contributions_[pod.key()] = std::move(c);
    return;
  }
  for (const auto& ip : pod.ips) c.ips.push_back(ip.to_string());
  for (const NetworkPolicy* np : selecting) c.selected_by.push_back(np->key());

  PeerDefs defs;
  auto peer_of = [&](const PolicyPeer& p, const std::string& policy_ns) {
    std::string key = peer_key(p, policy_ns);
    defs.emplace(key, std::pair{&p, policy_ns});
    return key;
  };
  auto verdict_for = [&](const std::set<std::string>& ps, bool ingress,
                         const std::set<std::string>& policies) -> std::string {
    if (ps.contains(kAnyPeer)) return "accept";
    std::string key = join(ps);
    int id = acquire_class(key, ps, defs);
    c.classes.push_back(key);
    std::string chain = std::string(ingress ? "ic-" : "ec-") + std::to_string(id);
    c.chain_policies[chain].insert(policies.begin(), policies.end());
    return "jump " + chain;
  };
  std::map<std::string, NamedDef> named_defs;

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
      put((ingress ? "ingress-isolated" : "egress-isolated") + fam(ip), ip.to_string(), "");
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
        std::string verdict = verdict_for(seg.peers, ingress, seg.policies);
        for (const auto& ip : pod.ips)
          put(dir + "-ports" + fam(ip),
              ip.to_string() + " . " + nft_proto(proto) + " . " + ports_text(seg.lo, seg.hi), verdict);
      }
    }
    if (!any_port_peers.empty()) {
      std::string verdict = verdict_for(any_port_peers, ingress, any_port_policies);
      for (const auto& ip : pod.ips) put(dir + "-any" + fam(ip), ip.to_string(), verdict);
    }
    if (!named.empty()) {
      std::string key = join(named);
      int id = acquire_named(key, named, named_defs, defs);
      c.named.push_back(key);
      c.chain_policies["en-" + std::to_string(id)].insert(named_policies.begin(), named_policies.end());
      for (const auto& ip : pod.ips)
        put("out-named" + fam(ip), ip.to_string(), "jump en-" + std::to_string(id));
    }
  }
  contributions_[pod.key()] = std::move(c);
}

void Planner::remove_contribution(const std::string& pod_key) {
  auto it = contributions_.find(pod_key);
  if (it == contributions_.end()) return;
  for (const auto& [set, key, value] : it->second.elements) own(set, key, pod_key, nullptr);
  for (const auto& ck : it->second.classes) --classes_.at(ck).uses;
  for (const auto& nk : it->second.named) --named_.at(nk).uses;
  contributions_.erase(it);
}

void Planner::recompute_meta() {
  t_.chain_policies.clear();
  t_.selected_by.clear();
  for (const auto& [_, c] : contributions_) {
    for (const auto& [chain, policies] : c.chain_policies)
      t_.chain_policies[chain].insert(policies.begin(), policies.end());
    for (const auto& ip : c.ips) {
      auto& v = t_.selected_by[ip];
      v.insert(v.end(), c.selected_by.begin(), c.selected_by.end());
    }
  }
}

// ---- whole and incremental plans ----

const TableState& Planner::rebuild(const PlannerInput& in) {
  in_ = &in;
  tracking_ = false;
  t_ = TableState{};
  peers_.clear();
  classes_.clear();
  named_.clear();
  records_.clear();
  contributions_.clear();
  owners_.clear();
  t_.own_ranges = in.own_ranges;
  for (const char* f : {"", "6"}) {
    std::string addr = *f ? "ipv6_addr" : "ipv4_addr";
    for (const char* s : {"local-pods", "ingress-isolated", "egress-isolated"})
      t_.sets[std::string(s) + f] = {false, "type " + addr + ";", {}};
    for (const char* m : {"in-ports", "out-ports"})
      t_.sets[std::string(m) + f] = {
          true, "type " + addr + " . inet_proto . inet_service : verdict; flags interval;", {}};
    for (const char* m : {"in-any", "out-any", "out-named"})
      t_.sets[std::string(m) + f] = {true, "type " + addr + " : verdict;", {}};
  }
  for (const auto& [key, pod] : *in.pods)
    if (pod.is_subject()) {
      PodRecord& rec = records_[key];
      rec.ips = pod.ips;
      for (const auto& ip : pod.ips) rec.ip_texts.push_back(ip.to_string());
      rec.ports = pod.ports;
    }
  for (const auto& [key, pod] : *in.pods)
    if (pod.node == in.node && pod.is_subject()) add_contribution(pod);
  recompute_meta();
  std::erase_if(class_ids_, [&](const auto& kv) { return !classes_.contains(kv.first); });
  std::erase_if(named_ids_, [&](const auto& kv) { return !named_.contains(kv.first); });
  in_ = nullptr;
  return t_;
}

PlanDelta Planner::update(const PlannerInput& in, const PlanChanges& changes) {
  in_ = &in;
  tracking_ = true;
  sets_before_.clear();
  chains_before_.clear();
  t_.own_ranges = in.own_ranges;
  // 1. Memberships: the changed pods, and every pod of a namespace whose labels changed.
  std::set<std::string> members = changes.pods;
  for (const auto& ns : changes.namespaces)
    for_namespace(*in.pods, ns, [&](const std::string& key, const Pod&) { members.insert(key); });
  for (const auto& key : members) update_membership(key);
  // 2. Local pods' own elements: a changed local pod, every local pod of a changed policy's namespace.
  auto is_local = [&](const Pod& p) { return p.node == in.node && p.is_subject(); };
  std::set<std::string> redo;
  for (const auto& key : changes.pods) {
    auto it = in.pods->find(key);
    if (contributions_.contains(key) || (it != in.pods->end() && is_local(it->second))) redo.insert(key);
  }
  for (const auto& pkey : changes.policies)
    for_namespace(*in.pods, pkey.substr(0, pkey.find('/')), [&](const std::string& key, const Pod& p) {
      if (contributions_.contains(key) || is_local(p)) redo.insert(key);
    });
  // Removals first: a class a pod leaves and another joins in this update stays (no chain churn).
  for (const auto& key : redo) remove_contribution(key);
  for (const auto& key : redo)
    if (auto it = in.pods->find(key); it != in.pods->end() && is_local(it->second))
      add_contribution(it->second);
  sweep();
  if (!redo.empty()) recompute_meta();

  PlanDelta d;
  d.before.own_ranges = d.after.own_ranges = t_.own_ranges;
  for (auto& [name, t] : sets_before_) {
    auto now = t_.sets.find(name);
    if (t.whole) {
      if (t.before) d.before.sets[name] = std::move(*t.before);
      if (now != t_.sets.end()) d.after.sets[name] = now->second;
      continue;
    }
    // Only the touched keys, as they were and are: render_diff writes exactly their change.
    SetState& b = d.before.sets[name];
    SetState& a = d.after.sets[name];
    b.is_map = a.is_map = now->second.is_map;
    b.decl = a.decl = now->second.decl;
    for (const auto& [k, v] : t.keys) {
      if (v) b.elements[k] = *v;
      if (auto e = now->second.elements.find(k); e != now->second.elements.end()) a.elements[k] = e->second;
    }
  }
  for (auto& [name, old] : chains_before_) {
    if (old) d.before.chains[name] = std::move(*old);
    if (auto it = t_.chains.find(name); it != t_.chains.end()) d.after.chains[name] = it->second;
  }
  sets_before_.clear();
  chains_before_.clear();
  tracking_ = false;
  in_ = nullptr;
  return d;
}

}  // namespace podnet::policy
