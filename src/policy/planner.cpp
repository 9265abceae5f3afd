// The planner: see planner.h for the shape. Peers are resolved once per plan and shared by every
// rule naming the same selector pair or ipBlock; port ranges of one pod are cut into disjoint
// segments (an interval map may not overlap), each mapped to the class of the rules covering it.
// A class's member elements map to the counter of the first of its rules naming them.
#include "policy/planner.h"

#include <algorithm>
#include <boost/asio/ip/address_v4.hpp>
#include <boost/asio/ip/address_v6.hpp>
#include <climits>
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

void Planner::touch_counter(const std::string& name) {
  if (!tracking_ || counters_before_.contains(name)) return;
  auto it = t_.counters.find(name);
  counters_before_[name] = it == t_.counters.end() ? std::nullopt : std::optional(it->second);
}

void Planner::elem_add(const std::string& set, const std::string& key, const std::string& value) {
  touch_key(set, key);
  t_.sets.at(set).elements[key] = value;
}

void Planner::elem_del(const std::string& set, const std::string& key) {
  touch_key(set, key);
  t_.sets.at(set).elements.erase(key);
}

void Planner::ref_pos(Refs& refs, const std::vector<std::string>& counters, const std::string& set,
                      const std::string& key, int pos, int fixed, int sign) {
  auto value = [&](const std::map<int, int>& m) {
    return "\"" + counters[std::min(m.begin()->first, fixed)] + "\"";
  };
  if (sign > 0) {
    auto& m = refs[key];
    std::string before = m.empty() ? std::string() : value(m);
    ++m[pos];
    if (std::string now = value(m); now != before) elem_add(set, key, now);
    return;
  }
  auto it = refs.find(key);
  if (it == refs.end()) return;
  auto& m = it->second;
  auto p = m.find(pos);
  if (p == m.end()) return;
  std::string before = value(m);
  if (--p->second == 0) m.erase(p);
  if (m.empty()) {
    refs.erase(it);
    elem_del(set, key);
    return;
  }
  if (std::string now = value(m); now != before) elem_add(set, key, now);
}

// The first position that allows `a` whatever the pod maps say: the class's every-peer rule, or an
// ipBlock of an earlier rule holding the address (the pod map is looked up first, so its value
// must already name the first rule).
int Planner::fixed_pos(const ClassEntry& c, const IpAddress& a) const {
  int best = c.any_pos >= 0 ? c.any_pos : INT_MAX;
  for (const auto& [pos, b] : c.blocks) {
    if (pos >= best || b.cidr.is_v4() != a.is_v4() || !b.cidr.contains(a)) continue;
    if (std::none_of(b.except.begin(), b.except.end(),
                     [&](const IpPrefix& e) { return e.is_v4() == a.is_v4() && e.contains(a); }))
      best = pos;
  }
  return best;
}

std::string Planner::acquire_counter(const RuleRef& r) {
  std::string key = r.policy + "|" + r.direction + "|" + std::to_string(r.rule);
  std::string name = "r-" + std::to_string(class_id(rule_ids_, next_rule_, key));
  if (++counter_uses_[name] == 1) {
    touch_counter(name);
    t_.counters[name] = r;
  }
  return name;
}

void Planner::release_counter(const std::string& name) {
  auto it = counter_uses_.find(name);
  if (it == counter_uses_.end() || --it->second > 0) return;
  counter_uses_.erase(it);
  touch_counter(name);
  if (auto c = t_.counters.find(name); c != t_.counters.end()) {
    rule_ids_.erase(c->second.policy + "|" + c->second.direction + "|" + std::to_string(c->second.rule));
    t_.counters.erase(c);
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
  for (const auto& sk : pe.shared) {
    SharedEntry& e = shared_.at(sk);
    std::string id = std::to_string(e.id);
    for (size_t i = 0; i < rec.ips.size(); ++i)
      ref(rec.ips[i].is_v4() ? e.refs4 : e.refs6, rec.ips[i].is_v4() ? "c" + id : "c" + id + "-6",
          rec.ip_texts[i], sign);
  }
  for (const auto& ck : pe.classes) {
    ClassEntry& c = classes_.at(ck);
    auto pp = c.peer_pos.find(peer_key);
    if (pp == c.peer_pos.end()) continue;
    std::string id = std::to_string(c.id);
    for (size_t i = 0; i < rec.ips.size(); ++i) {
      int fixed = fixed_pos(c, rec.ips[i]);
      for (int pos : pp->second)
        ref_pos(rec.ips[i].is_v4() ? c.refs4 : c.refs6, c.counters,
                rec.ips[i].is_v4() ? "cm" + id : "cm" + id + "-6", rec.ip_texts[i], pos, fixed, sign);
    }
  }
  for (const auto& nk : pe.named) {
    NamedEntry& n = named_.at(nk);
    std::string id = std::to_string(n.id);
    for (const auto& d : n.defs) {
      if (d.peer != peer_key) continue;
      for (const auto& cp : rec.ports)
        if (cp.name == d.name && cp.protocol == d.proto)
          for (const auto& ip : rec.ips)
            ref_pos(ip.is_v4() ? n.refs4 : n.refs6, n.counters, ip.is_v4() ? "n" + id : "n" + id + "-6",
                    ip.to_string() + " . " + nft_proto(d.proto) + " . " + std::to_string(cp.port), d.pos,
                    INT_MAX, sign);
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

// A peer set's members as plain sets, made once and shared by the uniform classes naming it.
int Planner::acquire_shared(const std::string& key, const std::set<std::string>& peer_keys,
                            const PeerDefs& defs) {
  auto it = shared_.find(key);
  if (it == shared_.end()) {
    // Pod members go to hash sets (cN), ipBlocks to interval sets (bN, only for sets that name
    // one): libnftables reads every element of every interval set of the table into its cache
    // before any element change, so interval elements make every update cost O(table).
    SharedEntry e;
    e.id = class_id(shared_ids_, next_shared_, key);
    Intervals blocks;
    for (const auto& pk : peer_keys) {
      PeerEntry& pe = acquire_peer(pk, defs);
      pe.shared.insert(key);
      e.peers.push_back(pk);
      if (pe.def.ip_block) {
        Intervals b;
        b.add(pe.def.ip_block->cidr);
        for (const auto& x : pe.def.ip_block->except) b.subtract(x);
        blocks.append(b);
        e.blocks = true;
      }
      for (const auto& [_, rec] : pe.members)
        for (size_t i = 0; i < rec->ips.size(); ++i)
          ++(rec->ips[i].is_v4() ? e.refs4 : e.refs6)[rec->ip_texts[i]];
    }
    blocks.normalize();
    std::string id = std::to_string(e.id);
    SetState v4{false, "type ipv4_addr;", {}}, v6{false, "type ipv6_addr;", {}};
    for (const auto& [a, _] : e.refs4) v4.elements[a] = "";
    for (const auto& [a, _] : e.refs6) v6.elements[a] = "";
    std::vector<std::pair<std::string, SetState>> sets{{"c" + id, std::move(v4)},
                                                       {"c" + id + "-6", std::move(v6)}};
    if (e.blocks) {
      SetState b4{false, "type ipv4_addr; flags interval;", {}},
          b6{false, "type ipv6_addr; flags interval;", {}};
      for (auto [lo, hi] : blocks.v4) b4.elements[lo == hi ? v4text(lo) : v4text(lo) + "-" + v4text(hi)] = "";
      for (auto [lo, hi] : blocks.v6) b6.elements[lo == hi ? v6text(lo) : v6text(lo) + "-" + v6text(hi)] = "";
      sets.push_back({"b" + id, std::move(b4)});
      sets.push_back({"b" + id + "-6", std::move(b6)});
    }
    for (auto& [name, set] : sets) {
      touch(name);
      t_.sets[name] = std::move(set);
    }
    it = shared_.emplace(key, std::move(e)).first;
  }
  ++it->second.uses;
  return it->second.id;
}

int Planner::acquire_class(const std::string& key, const ClassRules& rules, const PeerDefs& defs) {
  auto it = classes_.find(key);
  if (it == classes_.end()) {
    ClassEntry c;
    c.id = class_id(class_ids_, next_class_, key);
    bool ingress = rules.begin()->first.direction == "ingress";
    const char* dir = ingress ? "saddr" : "daddr";
    std::string chain_name = (ingress ? "ic-" : "ec-") + std::to_string(c.id);
    // Uniform: the first rule names every peer a later one does (up to one allowing every peer),
    // so every member counts for the first rule: one shared set lookup with a fixed counter. The
    // common case (one rule; rules naming the same peers), and it keeps members shared by peer set.
    const std::set<std::string>& first = rules.begin()->second;
    bool uniform = true;
    for (auto r = std::next(rules.begin()); r != rules.end() && !first.contains(kAnyPeer); ++r) {
      if (r->second.contains(kAnyPeer)) break;
      if (!std::includes(first.begin(), first.end(), r->second.begin(), r->second.end())) {
        uniform = false;
        break;
      }
    }
    if (uniform) {
      std::vector<std::string> chain;
      for (const auto& [rule, pks] : rules) {
        c.counters.push_back(acquire_counter(rule));
        if (pks.contains(kAnyPeer)) {
          c.any_pos = static_cast<int>(c.counters.size()) - 1;
          break;
        }
      }
      if (c.any_pos != 0) {
        c.shared = join(first);
        std::string sid = std::to_string(acquire_shared(c.shared, first, defs));
        std::string count = " counter name \"" + c.counters[0] + "\" accept";
        chain.push_back(std::string("ip ") + dir + " @c" + sid + count);
        chain.push_back(std::string("ip6 ") + dir + " @c" + sid + "-6" + count);
        if (shared_.at(c.shared).blocks) {
          chain.push_back(std::string("ip ") + dir + " @b" + sid + count);
          chain.push_back(std::string("ip6 ") + dir + " @b" + sid + "-6" + count);
        }
      }
      if (c.any_pos >= 0) chain.push_back("counter name \"" + c.counters[c.any_pos] + "\" accept");
      touch_chain(chain_name);
      t_.chains[chain_name] = std::move(chain);
      it = classes_.emplace(key, std::move(c)).first;
      ++it->second.uses;
      return it->second.id;
    }
    // Otherwise the class's own maps: pod members in a hash map (cmN), ipBlocks in an interval
    // map (bmN, only for classes that name one), each address -> the first rule allowing it.
    int pos = 0;
    for (const auto& [rule, pks] : rules) {
      c.counters.push_back(acquire_counter(rule));
      if (pks.contains(kAnyPeer)) {
        c.any_pos = pos;  // the caller drops the rules after it: they are never reached
        break;
      }
      for (const auto& pk : pks) {
        PeerEntry& pe = acquire_peer(pk, defs);
        if (pe.classes.insert(key).second) c.peers.push_back(pk);
        if (pe.def.ip_block)
          c.blocks.push_back({pos, *pe.def.ip_block});
        else
          c.peer_pos[pk].push_back(pos);
      }
      ++pos;
    }
    // The blocks cut into disjoint intervals, each with the first rule whose blocks hold it.
    std::vector<std::tuple<uint32_t, uint32_t, int>> seg4;
    std::vector<std::tuple<u128, u128, int>> seg6;
    Intervals covered;
    for (size_t i = 0; i < c.blocks.size();) {
      int p = c.blocks[i].first;
      Intervals mine;
      for (; i < c.blocks.size() && c.blocks[i].first == p; ++i) {
        Intervals b;
        b.add(c.blocks[i].second.cidr);
        for (const auto& e : c.blocks[i].second.except) b.subtract(e);
        mine.append(b);
      }
      mine.normalize();
      Intervals fresh = mine;
      for (auto [lo, hi] : covered.v4) policy::subtract(fresh.v4, lo, hi);
      for (auto [lo, hi] : covered.v6) policy::subtract(fresh.v6, lo, hi);
      for (auto [lo, hi] : fresh.v4) seg4.emplace_back(lo, hi, p);
      for (auto [lo, hi] : fresh.v6) seg6.emplace_back(lo, hi, p);
      covered.append(mine);
      covered.normalize();
    }
    std::map<std::string, int> fixed;  // members an earlier rule's ipBlock holds (rare)
    for (const auto& [pk, positions] : c.peer_pos)
      for (const auto& [_, rec] : peers_.at(pk).members)
        for (size_t i = 0; i < rec->ips.size(); ++i) {
          for (int p : positions) ++(rec->ips[i].is_v4() ? c.refs4 : c.refs6)[rec->ip_texts[i]][p];
          if (int f = c.blocks.empty() ? INT_MAX : fixed_pos(c, rec->ips[i]); f != INT_MAX)
            fixed[rec->ip_texts[i]] = f;
        }
    auto first_pos = [&](const std::string& a, const std::map<int, int>& m) {
      auto f = fixed.find(a);
      return f == fixed.end() ? m.begin()->first : std::min(m.begin()->first, f->second);
    };
    std::string id = std::to_string(c.id);
    auto counter_of = [&](int p) { return "\"" + c.counters[p] + "\""; };
    std::vector<std::pair<std::string, SetState>> sets;
    std::vector<std::string> chain;
    if (c.any_pos != 0) {
      SetState v4{true, "type ipv4_addr : counter;", {}}, v6{true, "type ipv6_addr : counter;", {}};
      for (const auto& [a, m] : c.refs4) v4.elements[a] = counter_of(first_pos(a, m));
      for (const auto& [a, m] : c.refs6) v6.elements[a] = counter_of(first_pos(a, m));
      sets.push_back({"cm" + id, std::move(v4)});
      sets.push_back({"cm" + id + "-6", std::move(v6)});
      chain.push_back(std::string("counter name ip ") + dir + " map @cm" + id + " accept");
      chain.push_back(std::string("counter name ip6 ") + dir + " map @cm" + id + "-6 accept");
    }
    if (!c.blocks.empty()) {
      SetState b4{true, "type ipv4_addr : counter; flags interval;", {}},
          b6{true, "type ipv6_addr : counter; flags interval;", {}};
      for (auto [lo, hi, p] : seg4)
        b4.elements[lo == hi ? v4text(lo) : v4text(lo) + "-" + v4text(hi)] =
            counter_of(c.any_pos >= 0 ? std::min(p, c.any_pos) : p);
      for (auto [lo, hi, p] : seg6)
        b6.elements[lo == hi ? v6text(lo) : v6text(lo) + "-" + v6text(hi)] =
            counter_of(c.any_pos >= 0 ? std::min(p, c.any_pos) : p);
      sets.push_back({"bm" + id, std::move(b4)});
      sets.push_back({"bm" + id + "-6", std::move(b6)});
      chain.push_back(std::string("counter name ip ") + dir + " map @bm" + id + " accept");
      chain.push_back(std::string("counter name ip6 ") + dir + " map @bm" + id + "-6 accept");
    }
    if (c.any_pos >= 0) chain.push_back("counter name " + counter_of(c.any_pos) + " accept");
    for (auto& [name, set] : sets) {
      touch(name);
      t_.sets[name] = std::move(set);
    }
    touch_chain(chain_name);
    t_.chains[chain_name] = std::move(chain);
    it = classes_.emplace(key, std::move(c)).first;
  }
  ++it->second.uses;
  return it->second.id;
}

int Planner::acquire_named(const std::string& key, const std::map<std::string, NamedDef>& named_defs,
                           const std::vector<RuleRef>& rules, const PeerDefs& defs) {
  auto it = named_.find(key);
  if (it == named_.end()) {
    NamedEntry n;
    n.id = class_id(named_ids_, next_named_, key);
    std::string id = std::to_string(n.id);
    for (const auto& r : rules) n.counters.push_back(acquire_counter(r));
    for (const auto& [_, d] : named_defs) {
      n.defs.push_back(d);
      PeerEntry& pe = acquire_peer(d.peer, defs);
      pe.named.insert(key);
      for (const auto& [_, r] : pe.members) {
        const PodRecord& rec = *r;
        for (const auto& cp : rec.ports)
          if (cp.name == d.name && cp.protocol == d.proto)
            for (const auto& ip : rec.ips)
              ++(ip.is_v4() ? n.refs4 : n.refs6)[ip.to_string() + " . " + nft_proto(d.proto) + " . " +
                                                 std::to_string(cp.port)][d.pos];
      }
    }
    SetState v4{true, "type ipv4_addr . inet_proto . inet_service : counter;", {}},
        v6{true, "type ipv6_addr . inet_proto . inet_service : counter;", {}};
    for (const auto& [e, m] : n.refs4) v4.elements[e] = "\"" + n.counters[m.begin()->first] + "\"";
    for (const auto& [e, m] : n.refs6) v6.elements[e] = "\"" + n.counters[m.begin()->first] + "\"";
    touch("n" + id);
    touch("n" + id + "-6");
    t_.sets["n" + id] = std::move(v4);
    t_.sets["n" + id + "-6"] = std::move(v6);
    touch_chain("en-" + id);
    t_.chains["en-" + id] = {"counter name ip daddr . meta l4proto . th dport map @n" + id + " accept",
                             "counter name ip6 daddr . meta l4proto . th dport map @n" + id + "-6 accept"};
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
    for (const auto& s : {"cm" + id, "cm" + id + "-6", "bm" + id, "bm" + id + "-6"}) drop_set(s);
    if (!it->second.shared.empty()) --shared_.at(it->second.shared).uses;
    for (const auto& chain : {"ic-" + id, "ec-" + id})
      if (t_.chains.contains(chain)) drop_chain(chain);
    for (const auto& counter : it->second.counters) release_counter(counter);
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
    for (const auto& counter : it->second.counters) release_counter(counter);
    named_ids_.erase(it->first);
    it = named_.erase(it);
  }
  for (auto it = shared_.begin(); it != shared_.end();) {
    if (it->second.uses > 0) {
      ++it;
      continue;
    }
    std::string id = std::to_string(it->second.id);
    for (const auto& pk : it->second.peers) peers_.at(pk).shared.erase(it->first);
    for (const auto& s : {"c" + id, "c" + id + "-6", "b" + id, "b" + id + "-6"}) drop_set(s);
    shared_ids_.erase(it->first);
    it = shared_.erase(it);
  }
  for (auto it = peers_.begin(); it != peers_.end();) {
    if (!it->second.classes.empty() || !it->second.named.empty() || !it->second.shared.empty()) {
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
  // The class of these rules (in RuleRef order): its chain. Rules after the first one allowing
  // every peer are never reached, so they are not part of it (more sharing).
  auto verdict_for = [&](ClassRules rules, bool ingress) -> std::string {
    for (auto it = rules.begin(); it != rules.end(); ++it)
      if (it->second.contains(kAnyPeer)) {
        rules.erase(std::next(it), rules.end());
        break;
      }
    std::string key;
    for (const auto& [r, ps] : rules)
      key += r.policy + "\t" + r.direction + "\t" + std::to_string(r.rule) + "\t" + join(ps) + "\x1e";
    int id = acquire_class(key, rules, defs);
    c.classes.push_back(key);
    std::string chain = std::string(ingress ? "ic-" : "ec-") + std::to_string(id);
    for (const auto& [r, _] : rules) c.chain_policies[chain].insert(r.policy);
    return "jump " + chain;
  };

  for (bool ingress : {true, false}) {
    struct Range {
      Protocol proto;
      int lo, hi;
      const RuleRef* rule;
      const std::vector<std::string>* peers;
    };
    std::vector<Range> ranges;
    std::vector<RuleRef> rule_refs;  // stable storage for the ranges' pointers
    std::vector<std::vector<std::string>> rule_peers;
    ClassRules any_port;
    // Named egress ports: rule -> (peer, name, protocol) resolved per destination pod.
    std::map<RuleRef, std::set<std::tuple<std::string, std::string, Protocol>>> named;
    bool isolated = false;
    size_t total_rules = 0;
    for (const NetworkPolicy* np : selecting)
      total_rules += (ingress ? np->ingress_rules : np->egress_rules).size();
    rule_refs.reserve(total_rules);
    rule_peers.reserve(total_rules);
    for (const NetworkPolicy* np : selecting) {
      if (!(ingress ? np->ingress : np->egress)) continue;
      isolated = true;
      const auto& rules = ingress ? np->ingress_rules : np->egress_rules;
      for (size_t ri = 0; ri < rules.size(); ++ri) {
        const PolicyRule& rule = rules[ri];
        const RuleRef& ref =
            rule_refs.emplace_back(RuleRef{np->key(), ingress ? "ingress" : "egress", static_cast<int>(ri)});
        std::vector<std::string>& pk = rule_peers.emplace_back();
        if (rule.peers.empty()) pk.push_back(kAnyPeer);
        for (const auto& peer : rule.peers) pk.push_back(peer_of(peer, np->namespace_));
        if (rule.ports.empty()) any_port[ref].insert(pk.begin(), pk.end());
        for (const PolicyPort& port : rule.ports) {
          if (!port.port) {
            ranges.push_back({port.protocol, 0, 65535, &ref, &pk});
          } else if (auto* n = std::get_if<int32_t>(&*port.port)) {
            ranges.push_back({port.protocol, *n, port.end_port.value_or(*n), &ref, &pk});
          } else {
            const std::string& name = std::get<std::string>(*port.port);
            if (ingress) {
              // Resolved against this pod, the destination.
              for (const auto& cp : pod.ports)
                if (cp.name == name && cp.protocol == port.protocol)
                  ranges.push_back({port.protocol, cp.port, cp.port, &ref, &pk});
            } else {
              // Resolved against each destination pod: elements name its address and port.
              for (const auto& k : pk) named[ref].insert({k, name, port.protocol});
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
      // Disjoint segments, adjacent ones with the same rules merged.
      struct Seg {
        int lo, hi;
        ClassRules rules;
      };
      std::vector<Seg> segs;
      for (size_t i = 0; i + 1 < cuts.size(); ++i) {
        int lo = cuts[i], hi = cuts[i + 1] - 1;
        ClassRules rs;
        for (const auto& r : ranges)
          if (r.proto == proto && r.lo <= lo && r.hi >= hi)
            rs[*r.rule].insert(r.peers->begin(), r.peers->end());
        if (rs.empty()) continue;
        if (!segs.empty() && segs.back().hi + 1 == lo && segs.back().rules == rs)
          segs.back().hi = hi;
        else
          segs.push_back({lo, hi, std::move(rs)});
      }
      for (const auto& seg : segs) {
        std::string verdict = verdict_for(seg.rules, ingress);
        for (const auto& ip : pod.ips)
          put(dir + "-ports" + fam(ip),
              ip.to_string() + " . " + nft_proto(proto) + " . " + ports_text(seg.lo, seg.hi), verdict);
      }
    }
    if (!any_port.empty()) {
      std::string verdict = verdict_for(any_port, ingress);
      for (const auto& ip : pod.ips) put(dir + "-any" + fam(ip), ip.to_string(), verdict);
    }
    if (!named.empty()) {
      std::map<std::string, NamedDef> named_defs;
      std::vector<RuleRef> order;
      std::string key;
      for (const auto& [r, defs_of_rule] : named) {
        int pos = static_cast<int>(order.size());
        order.push_back(r);
        for (const auto& [peer, name, proto] : defs_of_rule) {
          std::string nk =
              r.policy + "\t" + std::to_string(r.rule) + "\t" + peer + "|" + name + "|" + nft_proto(proto);
          named_defs.emplace(nk, NamedDef{peer, name, proto, pos});
          key += nk + "\x1e";
        }
      }
      int id = acquire_named(key, named_defs, order, defs);
      c.named.push_back(key);
      for (const auto& r : order) c.chain_policies["en-" + std::to_string(id)].insert(r.policy);
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
  shared_.clear();
  named_.clear();
  records_.clear();
  contributions_.clear();
  owners_.clear();
  counter_uses_.clear();
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
  std::erase_if(shared_ids_, [&](const auto& kv) { return !shared_.contains(kv.first); });
  std::erase_if(rule_ids_,
                [&](const auto& kv) { return !counter_uses_.contains("r-" + std::to_string(kv.second)); });
  in_ = nullptr;
  return t_;
}

PlanDelta Planner::update(const PlannerInput& in, const PlanChanges& changes) {
  in_ = &in;
  tracking_ = true;
  sets_before_.clear();
  chains_before_.clear();
  counters_before_.clear();
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
  for (auto& [name, old] : counters_before_) {
    if (old) d.before.counters[name] = std::move(*old);
    if (auto it = t_.counters.find(name); it != t_.counters.end()) d.after.counters[name] = it->second;
  }
  sets_before_.clear();
  chains_before_.clear();
  counters_before_.clear();
  tracking_ = false;
  in_ = nullptr;
  return d;
}

}  // namespace podnet::policy
